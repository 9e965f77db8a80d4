"""Reproduce CIFAR-10-LT IF100: MiSLAS and LCReg, both stages, then test.

Runs the unchanged recipes

* ``mislas``: configs/mislas/resnet32_cifar10-lt-if100.py
* ``lcreg``:  configs/lcreg/resnet32_cifar10-lt-if100.py

(200 + 10 epochs each) with ``tools/train.py`` and evaluates the final
checkpoint with ``tools/test.py``, both as subprocesses, then prints the
per-split table of each method (overall / many / medium / few top-1, ECE),
the wall times, and writes ``<work-dir>/summary.json``.

Only speed settings are added, through ``--cfg-options`` and
``tools/train.py``'s switches: mixed precision (``--amp``) and the
channels-last memory format (``--channels-last``, ChannelsLastHook), both
on by default on a GPU, ``--workers``
dataloader workers with persistent workers and pinned memory, MMEngine's
``default_collate`` (one stacked image tensor per batch, so the data
preprocessor moves and normalises a batch in one go instead of image by
image), ``env_cfg.cudnn_benchmark`` on a GPU, and the data root. The CIFAR
arrays are held in memory by MMPretrain's CIFAR datasets already.
(``tools/benchmarks/throughput.py --channels-last`` measures what the
memory format gives on its own.)

Data: ``--data-root`` must hold ``cifar-10-batches-py``. If it does not,
``--make-cifar-from DIR`` builds it with ``DIR/make_cifar.py`` from
``DIR/cifar10-jpeg.tar.gz`` (the project's ``../shared/data``). A copy
whose md5 sums are not the official ones (such as that re-packed one) is
detected and loaded with ``verify_md5=False``; this is printed.

``--epochs-scale s < 1`` SHORTENS the schedule (a smoke test, not the
recipe): stage-1 and stage-2 epochs, every scheduler's begin / end /
milestones and the validation interval are scaled consistently; the output
says so. ``--smoke-subset N`` (smoke tests only) trains on N training
images spread over all classes and validates / tests on N test images.

Example (one GPU)::

    python tools/benchmarks/reproduce.py --data-root data/cifar10 \\
        --make-cifar-from ../shared/data --work-dir work_dirs/reproduce

``--parallel`` trains both methods at once (two processes on the same
device, each with ``--workers`` loader workers); the wall time in the
summary is then that of the pair, the per-method times overlap.

``--dry-run`` prints what a run would do (the data it would build, the
train / test commands) and runs and writes nothing: no data, no folders,
no summary. It needs no GPU: with ``--device cuda`` (the default) it prints
the commands of a GPU run. When the data root does not exist yet it cannot
read the md5 sums; the commands then assume what ``make_cifar.py`` builds,
a re-packed copy (``verify_md5=False``).
"""
import argparse
import hashlib
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)  # run from a checkout without installing

from mmengine.config import Config  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.evaluation.split_table import format_split_table  # noqa: E402
from lcreg.benchmarks.run_options import (  # noqa: E402,F401
    DATASET_KEYS, LOADER_KEYS, data_options, has_key, loader_options, option)

METHODS = dict(
    mislas='configs/mislas/resnet32_cifar10-lt-if100.py',
    lcreg='configs/lcreg/resnet32_cifar10-lt-if100.py')
#: top-1 (%) of the papers (shared design doc): MiSLAS paper / LCReg paper.
PUBLISHED_TOP1 = dict(mislas=82.1, lcreg=83.1)
CIFAR_FOLDER = 'cifar-10-batches-py'
CIFAR_FILES = ('data_batch_1', 'data_batch_2', 'data_batch_3',
               'data_batch_4', 'data_batch_5', 'test_batch', 'batches.meta')
MAKE_CIFAR_INPUTS = ('make_cifar.py', 'cifar10-jpeg.tar.gz',
                     'cifar10_train_order.txt')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and test MiSLAS and LCReg on CIFAR-10-LT IF100 '
        '(ResNet-32, both stages) and summarise the per-split results.')
    parser.add_argument('--data-root', default='data/cifar10',
                        help='folder holding cifar-10-batches-py (default: '
                        '%(default)s)')
    parser.add_argument('--make-cifar-from', metavar='DIR',
                        help='build the data root when it is missing, with '
                        'DIR/make_cifar.py from DIR/cifar10-jpeg.tar.gz '
                        '(e.g. ../shared/data)')
    parser.add_argument('--work-dir', default='work_dirs/reproduce_cifar10-lt'
                        '-if100', help='default: %(default)s')
    parser.add_argument('--methods', nargs='+', choices=sorted(METHODS),
                        default=['mislas', 'lcreg'],
                        help='default: mislas lcreg')
    parser.add_argument('--epochs-scale', type=float, default=1.0,
                        help='< 1 shortens the schedule (smoke test; not the '
                        'recipe). Default 1.0: the full recipe')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda',
                        help='default: cuda')
    parser.add_argument('--no-amp', dest='amp', action='store_false',
                        help='no mixed precision (default on cuda: AMP on; '
                        'never on the CPU)')
    parser.add_argument('--channels-last',
                        action=argparse.BooleanOptionalAction,
                        help='channels-last memory format (ChannelsLastHook; '
                        'default: on with cuda, off on the CPU)')
    parser.add_argument('--workers', type=int,
                        default=min(8, os.cpu_count() or 1),
                        help='dataloader workers per loader (default: '
                        '%(default)s)')
    parser.add_argument('--smoke-subset', type=int, metavar='N',
                        help='SMOKE TEST ONLY: train on N training images '
                        'spread over all classes, validate and test on N '
                        'test images')
    parser.add_argument('--parallel', action='store_true',
                        help='train the methods at the same time (one '
                        'process each, same device, --workers each): the '
                        'small CIFAR model leaves a GPU half idle')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands (and the data it would '
                        'build), run and write nothing; needs no GPU')
    args = parser.parse_args(argv)
    if not 0 < args.epochs_scale <= 1:
        parser.error(f'--epochs-scale must be in (0, 1], got '
                     f'{args.epochs_scale}')
    if args.workers < 0:
        parser.error(f'--workers must be >= 0, got {args.workers}')
    if args.smoke_subset is not None and args.smoke_subset < 1:
        parser.error(f'--smoke-subset must be >= 1, got {args.smoke_subset}')
    if args.device == 'cpu':
        args.amp = False
    if args.channels_last is None:
        args.channels_last = args.device == 'cuda'
    return args


# ------------------------------------------------------------------- data
def cifar_missing(data_root: str) -> list:
    folder = osp.join(data_root, CIFAR_FOLDER)
    return [f for f in CIFAR_FILES if not osp.isfile(osp.join(folder, f))]


def make_cifar(data_root: str, source: str, dry_run: bool = False) -> None:
    """Build ``data_root/cifar-10-batches-py`` with ``source/make_cifar.py``
    (into a temporary folder, then renamed into place). ``dry_run``: the
    same checks, then only print what it would build."""
    absent = [f for f in MAKE_CIFAR_INPUTS
              if not osp.isfile(osp.join(source, f))]
    if absent:
        raise SystemExit(f'reproduce.py: error: --make-cifar-from {source} '
                         f'lacks {absent}; point it at the folder with '
                         'make_cifar.py and cifar10-jpeg.tar.gz (e.g. '
                         '../shared/data).')
    final = osp.join(data_root, CIFAR_FOLDER)
    if osp.exists(final):
        raise SystemExit(f'reproduce.py: error: {final} exists but is '
                         f'incomplete (missing {cifar_missing(data_root)}); '
                         'delete it to rebuild.')
    if dry_run:
        print(f'dry run: would build {data_root} from '
              f'{osp.join(source, "make_cifar.py")} ({final}, from '
              f'{osp.join(source, "cifar10-jpeg.tar.gz")})')
        return
    os.makedirs(data_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.cifar-build-', dir=data_root)
    try:
        print(f'building {final} with {osp.join(source, "make_cifar.py")}')
        subprocess.run([sys.executable, osp.join(source, 'make_cifar.py'),
                        'cifar10', tmp], check=True)
        os.rename(osp.join(tmp, CIFAR_FOLDER), final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def official_md5(data_root: str) -> bool:
    """Whether every batch file has the md5 sum of the official archive."""
    from mmpretrain.datasets import CIFAR10
    folder = osp.join(data_root, CIFAR_FOLDER)
    for name, md5 in CIFAR10.train_list + CIFAR10.test_list:
        digest = hashlib.md5()
        with open(osp.join(folder, name), 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                digest.update(chunk)
        if digest.hexdigest() != md5:
            return False
    return True


def prepare_data(args) -> bool:
    """Make sure the data exists; returns ``verify_md5``.

    In a dry run nothing is built; when the data is missing its md5 sums
    can not be read, and the copy ``make_cifar.py`` would build is assumed:
    re-packed, ``verify_md5=False`` (printed)."""
    missing = cifar_missing(args.data_root)
    if missing:
        if not args.make_cifar_from:
            folder = osp.join(args.data_root, CIFAR_FOLDER)
            raise SystemExit(
                f'reproduce.py: error: {folder} lacks {missing}; pass '
                '--make-cifar-from DIR (the folder with make_cifar.py and '
                'cifar10-jpeg.tar.gz, e.g. '
                '../shared/data) or put the official CIFAR-10 python '
                'batches there.')
        make_cifar(args.data_root, args.make_cifar_from, args.dry_run)
        if args.dry_run:
            print(f'data: {args.data_root} (not built yet, so its md5 sums '
                  'can not be checked; assuming the re-packed copy that '
                  'make_cifar.py builds, whose md5 sums differ from the '
                  'official archive: verify_md5=False; a real run checks '
                  'them after building)')
            return False
    verify = official_md5(args.data_root)
    print(f'data: {args.data_root} ('
          + ('official md5 sums: verify_md5=True' if verify else
             're-packed copy, md5 sums differ from the official archive: '
             'verify_md5=False') + ')')
    return verify


# --------------------------------------------------------------- options
def speed_options(cfg, workers: int, device: str) -> list:
    """Loader settings of a fast run (stacked uint8 batches)."""
    return loader_options(cfg, workers, device, stacked_batches=True)


def scale_schedule(cfg, scale: float):
    """Options that shorten the two-stage schedule by ``scale``.

    Stage 1 (S1 epochs) becomes ``n1 = max(1, round(S1·s))`` epochs and
    stage 2 (S2) ``n2 = max(1, round(S2·s))``; an epoch e of stage 1 maps
    to ``round(e·n1/S1)``, of stage 2 to ``n1 + round((e−S1)·n2/S2)``, for
    every scheduler's ``begin`` / ``end`` / ``milestones`` (a scheduler keeps
    at least one epoch, milestones stay inside it). The validation interval
    becomes ``max(1, round(v·s))``.

    Returns:
        ``(options, description)``; no options when ``scale == 1``.
    """
    train = cfg.train_cfg
    s1 = int(train.stage1_epochs)
    s2 = int(train.max_epochs) - s1
    if scale == 1:
        return [], f'full recipe: {s1} + {s2} epochs'
    n1, n2 = max(1, round(s1 * scale)), max(1, round(s2 * scale))

    def to_new(epoch):
        if epoch <= s1:
            return round(epoch * n1 / s1)
        return n1 + round((epoch - s1) * n2 / s2)

    opts = [option(cfg, 'train_cfg.stage1_epochs', n1),
            option(cfg, 'train_cfg.max_epochs', n1 + n2)]
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        if not sched.get('by_epoch', True):
            raise SystemExit(f'reproduce.py: error: param_scheduler[{i}] is '
                             'iteration-based; --epochs-scale scales epoch-'
                             'based schedules only.')
        begin = to_new(sched.get('begin', 0))
        end = to_new(min(sched.get('end', s1 + s2), s1 + s2))
        limit = n1 if sched.get('end', s1 + s2) <= s1 else n1 + n2
        end = min(max(end, begin + 1), limit)
        opts.append(option(cfg, f'param_scheduler.{i}.begin', begin))
        opts.append(option(cfg, f'param_scheduler.{i}.end', end))
        if 'milestones' in sched:
            milestones = sorted({min(max(to_new(m), begin + 1), end)
                                 for m in sched['milestones']})
            opts.append(option(cfg, f'param_scheduler.{i}.milestones',
                               milestones))
    interval = max(1, round(int(train.get('val_interval', 1)) * scale))
    opts.append(option(cfg, 'train_cfg.val_interval', interval))
    return opts, (f'SHORTENED schedule (--epochs-scale {scale:g}): '
                  f'{n1} + {n2} epochs instead of {s1} + {s2}; '
                  f'validation every {interval} epochs. Not the recipe.')


def smoke_subset_indices(labels, subset: int) -> list:
    """About ``subset`` training indices keeping every class and roughly its
    share: ``max(1, round(subset·n_c/n))`` evenly spaced images of class c
    (n_c of them in the split, n in all)."""
    import numpy as np
    labels = np.asarray(labels)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = min(len(members),
                   max(1, round(subset * len(members) / len(labels))))
        picks = np.linspace(0, len(members) - 1, take).round().astype(int)
        chosen.extend(members[np.unique(picks)].tolist())
    return sorted(chosen)


def smoke_options(cfg, subset: int, data_root: str, verify_md5: bool):
    """SMOKE TEST ONLY: ``indices`` of the training set (every class kept,
    see :func:`smoke_subset_indices`; the metrics' copies of the training
    set get them too) and of the validation / test sets (their first
    ``subset`` images). Data not built yet (a dry run): a placeholder for
    the training indices."""
    import copy

    from mmpretrain.registry import DATASETS
    if cifar_missing(data_root):
        indices = f'<indices_of_about_{subset}_images_once_built>'
    else:
        train_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
        train_cfg.update(data_root=data_root, verify_md5=verify_md5,
                         pipeline=[])
        labels = DATASETS.build(train_cfg).get_gt_labels()
        indices = smoke_subset_indices(labels, subset)
    opts = [option(cfg, 'train_dataloader.dataset.indices', indices)]
    for key in ('val_evaluator', 'test_evaluator'):  # same training set
        if has_key(cfg, f'{key}.train_dataset'):
            opts.append(option(cfg, f'{key}.train_dataset.indices', indices))
    for key in ('val_dataloader', 'test_dataloader'):
        if has_key(cfg, key):
            opts.append(option(cfg, f'{key}.dataset.indices', subset))
    return opts


# ------------------------------------------------------------------- runs
def run_logged(cmd, log_file, env, tag='', echo=('Epoch(val)', 'stage 2',
                                                 'Error', 'error')):
    """Run ``cmd``, output to ``log_file``; echo the lines with ``echo``
    words, prefixed by ``tag``. Raises SystemExit naming the log on
    failure."""
    print(f'{tag}$ ' + ' '.join(cmd), flush=True)
    with open(log_file, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        for line in proc.stdout:
            log.write(line)
            if any(word in line for word in echo):
                print(f'{tag}  ' + line.rstrip()[:240], flush=True)
        code = proc.wait()
    if code != 0:
        raise SystemExit(f'reproduce.py: error: {cmd[1]} failed (exit '
                         f'{code}); see {log_file}')


def last_checkpoint(work_dir: str) -> str:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise SystemExit(f'reproduce.py: error: {pointer} is missing: the '
                         'training did not save a checkpoint.')
    with open(pointer) as f:
        return f.read().strip()


def load_metrics(path: str) -> dict:
    with open(path) as f:
        metrics = json.load(f)
    return {k: (math.nan if v is None else v) for k, v in metrics.items()}


def run_method(name, args, verify_md5, env):
    config = osp.join(REPO, METHODS[name])
    cfg = Config.fromfile(config)
    work_dir = osp.abspath(osp.join(args.work_dir, name))
    if not args.dry_run:
        os.makedirs(work_dir, exist_ok=True)
    data_opts = data_options(cfg, osp.abspath(args.data_root), verify_md5)
    speed_opts = speed_options(cfg, args.workers, args.device)
    schedule_opts, schedule = scale_schedule(cfg, args.epochs_scale)
    smoke_opts = [] if args.smoke_subset is None else smoke_options(
        cfg, args.smoke_subset, osp.abspath(args.data_root), verify_md5)
    print(f'\n== {name}: {METHODS[name]}\n{schedule}')
    if smoke_opts:
        print(f'SMOKE TEST: {args.smoke_subset} training / test images '
              '(--smoke-subset); the numbers mean nothing.')
    train_cmd = [sys.executable, 'tools/train.py', config, '--work-dir',
                 work_dir] + (['--amp'] if args.amp else []) + (
                     ['--channels-last'] if args.channels_last else []) + [
                     '--cfg-options'] + data_opts + speed_opts + \
        schedule_opts + smoke_opts
    test_out = osp.join(work_dir, 'test_metrics.json')
    test_opts = data_opts + speed_opts + [
        o for o in smoke_opts if not o.lstrip('+').startswith('train_')]
    result = dict(config=METHODS[name], schedule=schedule,
                  published_top1=PUBLISHED_TOP1[name])

    def test_cmd(checkpoint):
        return [sys.executable, 'tools/test.py', config, checkpoint,
                '--work-dir', osp.join(work_dir, 'test'), '--out', test_out,
                '--cfg-options'] + test_opts

    if args.dry_run:
        print('$ ' + ' '.join(train_cmd))
        print('$ ' + ' '.join(test_cmd('<last checkpoint>')))
        return result
    tag = f'[{name}] ' if args.parallel else ''
    start = time.time()
    run_logged(train_cmd, osp.join(work_dir, 'train_output.log'), env, tag)
    result['train_seconds'] = time.time() - start
    checkpoint = last_checkpoint(work_dir)
    start = time.time()
    run_logged(test_cmd(checkpoint), osp.join(work_dir, 'test_output.log'),
               env, tag)
    result['test_seconds'] = time.time() - start
    result['checkpoint'] = checkpoint
    result['metrics'] = load_metrics(test_out)
    print(format_split_table(result['metrics'], title=f'{name} (test)'))
    print(f'{name}: train {result["train_seconds"]:.0f} s, test '
          f'{result["test_seconds"]:.0f} s')
    return result


def format_summary(results: dict) -> str:
    rows = [('method', 'top-1', 'many', 'medium', 'few', 'ECE', 'paper',
             'train s', 'test s')]
    for name, r in results.items():
        m = r.get('metrics', {})

        def cell(key):
            value = m.get(f'lt/{key}', math.nan)
            return 'n/a' if math.isnan(value) else f'{value:.2f}'
        rows.append((name, cell('top1'), cell('many'), cell('medium'),
                     cell('few'), cell('ece'), f'{r["published_top1"]:.1f}',
                     f'{r.get("train_seconds", math.nan):.0f}',
                     f'{r.get("test_seconds", math.nan):.0f}'))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join([row[0].ljust(widths[0])] + [
        c.rjust(w) for c, w in zip(row[1:], widths[1:])]) for row in rows)


def main(argv=None):
    args = parse_args(argv)
    if args.dry_run:
        print('dry run: printing what would be done; nothing is run or '
              'written')
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            if not args.dry_run:
                raise SystemExit('reproduce.py: error: --device cuda but no '
                                 'CUDA GPU is visible; use --device cpu '
                                 '(slow).')
            print('dry run: no CUDA GPU is visible here; these are the '
                  'commands of a run on a GPU (--device cuda)')
    verify_md5 = prepare_data(args)
    env = dict(os.environ)
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    if not args.dry_run:
        os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    if args.parallel and not args.dry_run:
        with ThreadPoolExecutor(len(args.methods)) as pool:
            futures = {name: pool.submit(run_method, name, args, verify_md5,
                                         env) for name in args.methods}
            results = {name: f.result() for name, f in futures.items()}
    else:
        results = {name: run_method(name, args, verify_md5, env)
                   for name in args.methods}
    wall = time.time() - start
    summary = dict(
        benchmark='CIFAR-10-LT IF100, ResNet-32, two stages (MiSLAS recipe)',
        epochs_scale=args.epochs_scale, shortened=args.epochs_scale < 1,
        smoke_subset=args.smoke_subset, device=args.device, amp=args.amp,
        channels_last=args.channels_last,
        workers=args.workers, parallel=args.parallel,
        data_root=osp.abspath(args.data_root),
        verify_md5=verify_md5, wall_seconds=wall, methods=results)
    out = osp.join(args.work_dir, 'summary.json')
    if not args.dry_run:
        from lcreg.evaluation.split_table import dump_metrics_json
        dump_metrics_json(summary, out)
        print('\n' + format_summary(results))
        if args.epochs_scale < 1 or args.smoke_subset is not None:
            print('SHORTENED / SMOKE run: not comparable with the paper.')
        print(f'wall time: {wall:.0f} s')
        print(f'summary written to {out}')
    return summary


if __name__ == '__main__':
    main()
