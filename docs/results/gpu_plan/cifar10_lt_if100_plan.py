"""Full-schedule CIFAR-10-LT IF100 runs on a lent GPU machine, in one call.

Prepared and rehearsed on the CPU (``LCREG_DEV_TEST=1``, below) on
2026-12-04; not yet run on a GPU (the device was not lent that session).
``README.md`` beside this file says how to call it.

Phase 1: copy the code, build the data, (try CUDA MPS), launch every run of
RUNS as its own ``tools/benchmarks/run_table.py`` in a new process session
(so it outlives this command), watch progress, pack the text files into
$OUT every 30 s and, at the deadline, the checkpoints needed to resume or
analyse here. Phase 2 (a later call on the warm machine): watch and pack.

Gate: the extra seeds (group 'extra') start only when the rate of the seed-0
runs says that all of them can still finish before --total seconds; they are
killed again if they put the seed-0 runs past it.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

T0 = time.time()
REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
#: carried folder (git-ignored) with make_cifar.py, cifar10-jpeg.tar.gz and
#: cifar10_train_order.txt, copied from ../shared/data
DATA_SRC = osp.join(REPO, '.device-data')
CODE = '/tmp/lcreg_code'
DATA = '/tmp/data/cifar10'
RUNS_DIR = '/tmp/runs'
OUT = os.environ.get('OUT', '/tmp/out')
MPS_ENV = dict(CUDA_MPS_PIPE_DIRECTORY='/tmp/mps/pipe',
               CUDA_MPS_LOG_DIRECTORY='/tmp/mps/log')

SHORT = 'configs/shortened/lcreg_resnet32_cifar10-lt-if100_12e-2e.py'
FULL = 210
# LCREG_DEV_TEST=1: a CPU rehearsal of this script (tiny subsets, every run
# the shortened recipe), to check the mechanics before device time is spent.
TEST = os.environ.get('LCREG_DEV_TEST') == '1'
DEVICE, WORKERS = ('cpu', '0') if TEST else ('cuda', '2')
FULL = 14 if TEST else FULL
_SPREAD = '[' + ','.join(str(i) for i in range(0, 12406, 32)) + ']'
TEST_OPTS = ['+train_dataloader.dataset.indices=' + _SPREAD,
             '+val_evaluator.train_dataset.indices=' + _SPREAD,
             '+test_evaluator.train_dataset.indices=' + _SPREAD,
             '+val_dataloader.dataset.indices=256',
             '+test_dataloader.dataset.indices=256']
# tag, config, seed, group, nice, extra runner args
RUNS = [
    ('short-fp32', SHORT, 0, 'canary', 0, []),
    ('short-bf16', SHORT, 0, 'canary', 0,
     ['--cfg-options', '+optim_wrapper.type=AmpOptimWrapper',
      '+optim_wrapper.dtype=bfloat16']),
    # seed 0: every epoch of both stages validated (MiSLAS' protocol; the
    # final epoch stays the headline)
    ('mislas-s0', 'configs/mislas/resnet32_cifar10-lt-if100.py', 0, 'seed0',
     0, ['--best-test-epoch', 'all']),
    ('lcreg-s0', 'configs/lcreg/resnet32_cifar10-lt-if100.py', 0, 'seed0', 0,
     ['--best-test-epoch', 'all']),
    ('ce-s0', 'configs/baselines/resnet32_cifar10-lt-if100_ce.py', 0, 'seed0',
     0, ['--best-test-epoch', 'all']),
    ('lcreg-recondot-s0',
     'configs/lcreg/ablations/resnet32_cifar10-lt-if100_recon-dot.py', 0,
     'seed0', 0, ['--best-test-epoch', 'all']),
    ('lcreg-assignt01-s0',
     'configs/lcreg/ablations/resnet32_cifar10-lt-if100_assign-t0.1.py', 0,
     'seed0', 0, ['--best-test-epoch', 'all']),
    # MiSLAS' README: "highly recommend" weight decay 5e-4 on CIFAR-LT
    ('mislas-wd5e-4-s0', 'configs/mislas/resnet32_cifar10-lt-if100_wd5e-4.py',
     0, 'seed0', 0, ['--best-test-epoch', 'all']),
    ('lcreg-wd5e-4-s0', 'configs/lcreg/resnet32_cifar10-lt-if100_wd5e-4.py',
     0, 'seed0', 0, ['--best-test-epoch', 'all']),
    ('mislas-s1', 'configs/mislas/resnet32_cifar10-lt-if100.py', 1, 'extra',
     10, ['--best-test-epoch']),
    ('lcreg-s1', 'configs/lcreg/resnet32_cifar10-lt-if100.py', 1, 'extra', 10,
     ['--best-test-epoch']),
    ('mislas-s2', 'configs/mislas/resnet32_cifar10-lt-if100.py', 2, 'extra',
     10, ['--best-test-epoch']),
    ('lcreg-s2', 'configs/lcreg/resnet32_cifar10-lt-if100.py', 2, 'extra', 10,
     ['--best-test-epoch']),
]


def log(*args):
    print(f'[{time.time() - T0:6.1f}s]', *args, flush=True)


def sh(cmd, timeout=None, env=None):
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                           timeout=timeout, env=env)
        return p.returncode, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        return 124, 'timeout'


def run_dir(tag):
    found = glob.glob(osp.join(RUNS_DIR, tag, '*', '*', 'seed*'))
    return found[0] if found else None


def progress(tag):
    """Epochs done (newest epoch_N.pth) and whether it finished."""
    d = run_dir(tag)
    rc_file = osp.join(RUNS_DIR, tag + '.rc')
    rc = open(rc_file).read().strip() if osp.isfile(rc_file) else None
    epochs = 0
    if d:
        for p in glob.glob(osp.join(d, 'epoch_*.pth')):
            m = re.search(r'epoch_(\d+)\.pth$', p)
            epochs = max(epochs, int(m.group(1)))
    status = None
    if d and osp.isfile(osp.join(d, 'run.json')):
        try:
            status = json.load(open(osp.join(d, 'run.json'))).get('status')
        except ValueError:
            pass
    return dict(epochs=epochs, rc=rc, status=status)


def launch(tag, config, seed, nice, extra, env, code=CODE):
    out = osp.join(RUNS_DIR, tag + '.out')
    rc_file = osp.join(RUNS_DIR, tag + '.rc')
    if osp.exists(rc_file):
        os.remove(rc_file)
    cmd = [sys.executable, osp.join(code, 'tools/benchmarks/run_table.py'),
           config, '--seeds', str(seed), '--work-dir',
           osp.join(RUNS_DIR, tag), '--data-root', DATA, '--no-verify-md5',
           '--channels-last', '--workers', WORKERS, '--device', DEVICE]
    if TEST:
        cmd[cmd.index(config)] = SHORT
        extra = [x for x in extra if 'optim_wrapper' not in x]
        if '--cfg-options' not in extra:
            extra = extra + ['--cfg-options']
        extra = extra + TEST_OPTS
    cmd += extra
    line = ' '.join(cmd)
    wrapped = f'nice -n {nice} {line} >> {out} 2>&1; echo $? > {rc_file}'
    proc = subprocess.Popen(['setsid', 'sh', '-c', wrapped], cwd=code,
                            env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    json.dump(dict(pid=proc.pid, cmd=line, start=time.time()),
              open(osp.join(RUNS_DIR, tag + '.launch.json'), 'w'))
    log('launched', tag, 'pid', proc.pid)
    return proc.pid


def kill(tag):
    info = json.load(open(osp.join(RUNS_DIR, tag + '.launch.json')))
    try:
        os.killpg(info['pid'], signal.SIGKILL)
        log('killed', tag)
    except ProcessLookupError:
        pass


def pack(final):
    os.makedirs(OUT, exist_ok=True)
    tmp = osp.join(OUT, '.results.tar.gz')
    with tarfile.open(tmp, 'w:gz') as tar:
        for root, _, files in os.walk(RUNS_DIR):
            for name in files:
                if name.endswith('.pth'):
                    continue
                path = osp.join(root, name)
                tar.add(path, osp.relpath(path, '/tmp'))
    os.replace(tmp, osp.join(OUT, 'results.tar.gz'))
    if not final:
        return
    wanted = []
    for tag, config, *_ in RUNS:
        d = run_dir(tag)
        if not d:
            continue
        p = progress(tag)
        if p['status'] != 'finished':
            last = osp.join(d, 'last_checkpoint')
            if osp.isfile(last):
                wanted.append(open(last).read().strip())
        elif '/lcreg' in config and 'shortened' not in config:
            wanted.append(osp.join(d, f'epoch_{FULL}.pth'))
    part, size, n = None, 0, 0
    for path in wanted:
        if not osp.isfile(path):
            continue
        s = osp.getsize(path)
        if part is None or size + s > 15 * 2**20:
            if part is not None:
                part.close()
            n += 1
            if n > 5:
                log('no room for', path)
                break
            part = tarfile.open(osp.join(OUT, f'ckpt{n}.tar'), 'w')
            size = 0
        part.add(path, osp.relpath(path, '/tmp'))
        size += s
    if part is not None:
        part.close()
    log('packed', len(wanted), 'checkpoints into', n, 'tars')


def setup(use_mps):
    shutil.rmtree(CODE, ignore_errors=True)
    shutil.copytree(REPO, CODE, ignore=shutil.ignore_patterns(
        '.git', '.whl', '.device-data', '.venv', 'work_dirs', '__pycache__'))
    os.makedirs(RUNS_DIR, exist_ok=True)
    make = subprocess.Popen(
        [sys.executable, osp.join(DATA_SRC, 'make_cifar.py'), 'cifar10',
         DATA], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONUNBUFFERED='1',
               PYTHONPATH=os.environ.get('PYTHONPATH', '') + ':' + CODE)
    log(sh('nvidia-smi --query-gpu=name,memory.total,driver_version '
           '--format=csv,noheader')[1])
    log(sh('lscpu | grep -E "Model name|^CPU\\(s\\)"')[1])
    rc, text = sh(f'{sys.executable} -c "import torch, mmengine, mmcv, '
                  'mmpretrain, lcreg; print(torch.__version__, '
                  'mmengine.__version__, mmcv.__version__, '
                  'mmpretrain.__version__, torch.cuda.is_available() and '
                  'torch.cuda.get_device_name(0))"',
                  timeout=120, env=env)
    log('imports', rc, text[-400:])
    if use_mps and shutil.which('nvidia-cuda-mps-control'):
        for d in MPS_ENV.values():
            os.makedirs(d, exist_ok=True)
        menv = dict(env, **MPS_ENV)
        log('mps start', sh('nvidia-cuda-mps-control -d', 30, menv))
        rc, text = sh(f'{sys.executable} -c "import torch; x = torch.ones('
                      "1000, device='cuda'); print(float(x.sum()))\"", 60,
                      menv)
        log('mps probe', rc, text[-300:])
        if rc == 0 and text.endswith('1000.0'):
            env = menv
        else:
            log('mps off', sh('echo quit | nvidia-cuda-mps-control', 20,
                              menv))
    else:
        log('mps not used')
    out, _ = make.communicate()
    log('make_cifar', make.returncode, out.strip()[-200:])
    json.dump(dict(mps='CUDA_MPS_PIPE_DIRECTORY' in env),
              open(osp.join(RUNS_DIR, 'setup.json'), 'w'))
    return env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--phase', type=int, default=1)
    parser.add_argument('--deadline', type=float, required=True,
                        help='seconds from start: pack and exit')
    parser.add_argument('--total', type=float, required=True,
                        help='seconds from start of phase 1 when the machine '
                        'is expected back (gate of the extra runs)')
    parser.add_argument('--no-mps', action='store_true')
    parser.add_argument('--relaunch-failed', action='store_true')
    args = parser.parse_args()
    state_file = osp.join(RUNS_DIR, 'state.json')
    if args.phase == 1 and not osp.isfile(state_file):
        env = setup(not args.no_mps)
        state = dict(t0=T0, env=env, launched=[], vetoed=False)
        for tag, config, seed, group, nice, extra in RUNS:
            if group != 'extra':
                launch(tag, config, seed, nice, extra, env)
                state['launched'].append(tag)
        json.dump(state, open(state_file, 'w'))
    else:
        state = json.load(open(state_file))
        env = state['env']
        log('phase', args.phase, 'since phase 1:', time.time() - state['t0'])
    total_end = state['t0'] + args.total
    end = T0 + args.deadline
    first = {}   # tag -> (time, epochs) at its first checkpoint seen
    last_pack = 0.0
    while True:
        now = time.time()
        prog = {tag: progress(tag) for tag in state['launched']}
        for tag, p in prog.items():
            if p['epochs'] and tag not in first:
                first[tag] = (now, p['epochs'])
        if args.relaunch_failed:
            for tag, config, seed, group, nice, extra in RUNS:
                if tag in prog and prog[tag]['rc'] not in (None, '0'):
                    log('relaunch', tag, 'rc', prog[tag]['rc'])
                    launch(tag, config, seed, nice, extra, env)
            args.relaunch_failed = False
        # rates of the seed-0 runs
        rates = {}
        for tag, config, seed, group, *_ in RUNS:
            if group == 'seed0' and tag in first and prog[tag]['rc'] is None:
                t1, e1 = first[tag]
                e = prog[tag]['epochs']
                if now - t1 > 40 and e > e1:
                    rates[tag] = (e - e1) / (now - t1)
        seed0_left = max(((FULL - prog[t]['epochs']) / r
                          for t, r in rates.items()), default=None)
        extras = [r for r in RUNS if r[3] == 'extra']
        if args.phase == 1 and not state['vetoed'] and seed0_left \
                and now - T0 > 120 and extras[0][0] not in state['launched']:
            full_time = FULL / min(rates.values())
            left = total_end - now
            log(f'gate: seed0 left {seed0_left:.0f}s, one run '
                f'{full_time:.0f}s, machine left {left:.0f}s')
            if seed0_left * 1.6 < left - 40 and full_time * 1.6 < left - 40:
                for tag, config, seed, group, nice, extra in extras:
                    launch(tag, config, seed, nice, extra, env)
                    state['launched'].append(tag)
            elif full_time * 1.6 >= left - 40:
                state['vetoed'] = True
                log('gate: no time for the extra seeds')
            json.dump(state, open(state_file, 'w'))
        if seed0_left and seed0_left > total_end - now - 30:
            for tag, *_ in extras:
                if tag in state['launched'] and progress(tag)['rc'] is None:
                    kill(tag)
                    state['vetoed'] = True
        if now - last_pack > 30:
            line = ' '.join(f"{t}:{p['epochs']}{'' if p['rc'] is None else '/rc' + p['rc']}"
                            for t, p in prog.items())
            log(line)
            log(sh('nvidia-smi --query-gpu=utilization.gpu,memory.used '
                   '--format=csv,noheader')[1], '| load',
                open('/proc/loadavg').read().split()[:3])
            pack(final=False)
            last_pack = time.time()
        done = all(p['rc'] is not None for p in prog.values())
        if done or time.time() > end:
            break
        time.sleep(5)
    for tag in state['launched']:
        out = osp.join(RUNS_DIR, tag + '.out')
        if osp.isfile(out):
            tail = open(out).read()[-600:]
            log(f'--- {tag} {progress(tag)}\n{tail}')
    pack(final=True)
    log('done' if done else 'deadline')


if __name__ == '__main__':
    main()
