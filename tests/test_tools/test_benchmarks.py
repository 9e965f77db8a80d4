"""tools/benchmarks/throughput.py and tools/benchmarks/reproduce.py."""
import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lcreg.engine.optimizers import cpu_bf16_flags

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / 'tools' / 'benchmarks'
DEMO = REPO / 'configs' / 'demo' / 'lcreg_resnet32_digits-lt.py'
LCREG_CIFAR10 = REPO / 'configs' / 'lcreg' / 'resnet32_cifar10-lt-if100.py'


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def throughput():
    return _load('throughput')


@pytest.fixture(scope='module')
def reproduce():
    return _load('reproduce')


def _env():
    return dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
                MKL_NUM_THREADS='1')


def _config(path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(str(path))
    init_default_scope('mmpretrain')
    return cfg


# ------------------------------------------------------------ throughput
def test_input_size_and_plain_variant(throughput):
    cfg = _config(LCREG_CIFAR10)
    assert throughput.input_size_from_pipeline(
        throughput.train_pipeline(cfg)) == (32, 32)
    assert throughput.input_size_from_pipeline(
        [dict(type='RandomResizedCrop', scale=224)]) == (224, 224)
    assert throughput.input_size_from_pipeline(
        [dict(type='Resize', scale=(320, 240)), dict(type='PackInputs')]
    ) == (240, 320)
    with pytest.raises(ValueError, match='--input-size'):
        throughput.input_size_from_pipeline([dict(type='PackInputs')])
    plain = throughput.plain_model_cfg(cfg.model)
    assert plain['type'] == 'ImageClassifier'
    assert plain['neck'] == dict(type='GlobalAveragePooling')
    assert plain['head']['in_channels'] == 64  # LCReg head: 128 (concat)
    assert cfg.model.head.in_channels == 128
    assert plain['backbone'] == cfg.model.backbone
    with pytest.raises(ValueError, match='LatentCategoryNeck'):
        throughput.plain_model_cfg(plain)
    assert throughput.overhead(slow=80.0, fast=100.0) == pytest.approx(25.0)


def test_plain_loop_is_the_same_training_step(throughput):
    """(c) computes the eq. 7 total of (b) and makes the same SGD update."""
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.structures import DataSample
    cfg = _config(DEMO)
    torch.manual_seed(0)
    model_b = throughput.build_model(cfg.model, cfg.data_preprocessor, 'cpu',
                                     False)
    model_ref = copy.deepcopy(model_b)
    model_c = copy.deepcopy(model_b)
    optim_wrapper = build_optim_wrapper(model_b, cfg.optim_wrapper)
    step_c = throughput.plain_training_step(model_c, cfg)
    images = throughput.synthetic_inputs(6, (32, 32), False, 'pseudo', 0)
    labels = torch.tensor([0, 3, 5, 9, 9, 1])

    def batch():
        return dict(inputs=images, data_samples=[
            DataSample().set_gt_label(int(y)) for y in labels])

    # the total that MMEngine back-propagates: head CE + neck losses
    np.random.seed(1)
    torch.manual_seed(1)
    data = model_ref.data_preprocessor(batch(), True)
    losses = model_ref.loss(data['inputs'], data['data_samples'])
    total, _ = model_ref.parse_losses(losses)
    assert set(losses) >= {'loss_recon', 'loss_latent_aug'}
    np.random.seed(1)
    torch.manual_seed(1)
    model_b.train_step(batch(), optim_wrapper)
    np.random.seed(1)
    torch.manual_seed(1)
    loss_c = step_c(images, labels)
    assert float(loss_c) == pytest.approx(float(total.detach()), rel=1e-5)
    params_b = dict(model_b.named_parameters())
    before = dict(model_ref.named_parameters())
    assert not torch.equal(params_b['backbone.conv1.weight'],
                           before['backbone.conv1.weight'])  # it trained
    for name, param in model_c.named_parameters():
        torch.testing.assert_close(param, params_b[name], rtol=1e-4,
                                   atol=1e-6, msg=name)


def test_throughput_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCH / 'throughput.py'), str(DEMO), '--iters',
         '2', '--warmup', '1', '--batch-size', '8', '--device', 'cpu',
         '--threads', '1'], cwd=REPO, env=_env(), capture_output=True,
        text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert 'batch 8, input 3x32x32' in out
    speeds = {}
    for tag in ('a', 'b', 'c', 'd'):
        row = re.search(rf'^\({tag}\) .*?\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)'
                        r'\s+(-?[\d.]+)$', out, re.M)
        assert row is not None, out
        speeds[tag] = float(row.group(1))
        assert speeds[tag] > 0
        # one round: median == min == max
        assert float(row.group(2)) == float(row.group(3)) == speeds[tag]
    neck = float(re.search(r'neck overhead \(b vs a\): ([+-][\d.]+)%',
                           out).group(1))
    toolbox = float(re.search(r'toolbox overhead \(b vs c\): ([+-][\d.]+)%',
                              out).group(1))
    share = float(re.search(r'neck alone vs plain step \(d / a\): ([\d.]+)%',
                            out).group(1))
    # with one round the paired ratios are the ratios of the speeds, up to
    # the rounding of the printed speeds (±0.05) and percentages (±0.05)
    def ratio(x, y):
        value = speeds[x] / speeds[y]
        bound = 0.05 / speeds[x] + 0.05 / speeds[y]
        return 100 * value, 100 * value * bound + 0.05

    for printed, (x, y) in ((neck, ('a', 'b')), (toolbox, ('c', 'b'))):
        value, tolerance = ratio(x, y)
        assert printed == pytest.approx(value - 100, abs=tolerance)
    value, tolerance = ratio('a', 'd')
    assert share == pytest.approx(value, abs=tolerance)
    assert share < 100  # the neck alone is a fraction of a whole step


def test_paired_overhead_is_the_median_of_round_ratios(throughput):
    slow = [1.10, 2.20, 1.05, 9.0]
    fast = [1.00, 2.00, 1.00, 3.0]  # a slow spell in the last round of both
    assert throughput.paired_overhead(slow, fast) == pytest.approx(10.0)
    assert throughput.paired_overhead(fast, fast) == 0.0


def test_interleaved_rounds_rotate_and_never_reuse_a_batch(throughput,
                                                           monkeypatch):
    calls = []

    def fake_build(variant, cfg, args, inputs, count):
        assert count == args.warmup + args.iters * args.repeat
        return object(), lambda i: calls.append((variant, i))

    monkeypatch.setattr(throughput, 'build_step', fake_build)

    class Args:
        warmup, iters, repeat, device = 1, 2, 3, 'cpu'

    seconds = throughput.interleaved_timing(['plain', 'lcreg', 'torch'],
                                            None, Args, None)
    assert {v: len(s) for v, s in seconds.items()} == dict(plain=3, lcreg=3,
                                                           torch=3)
    timed = calls[3:]  # after one warm-up step of each variant
    assert calls[:3] == [('plain', 0), ('lcreg', 0), ('torch', 0)]
    assert [v for v, _ in timed[::2]] == ['plain', 'lcreg', 'torch',
                                          'lcreg', 'torch', 'plain',
                                          'torch', 'plain', 'lcreg']
    for variant in ('plain', 'lcreg', 'torch'):
        indices = [i for v, i in calls if v == variant]
        assert indices == list(range(7))  # every batch once, in order


def test_throughput_refuses_amp_on_a_cpu_without_bf16(throughput,
                                                     monkeypatch):
    from lcreg.engine.optimizers import bf16_optim_wrapper
    monkeypatch.setattr(bf16_optim_wrapper, 'cpu_bf16_flags', lambda: dict(
        avx512_bf16=False, amx_bf16=False))
    with pytest.raises(RuntimeError, match='needs a CPU with the AVX512-BF16'):
        throughput.parse_args([str(DEMO), '--amp', '--device', 'cpu'])


def test_throughput_bf16_channels_last_against_fp32(throughput, monkeypatch,
                                                   capsys):
    """--amp --channels-last on the CPU: (e) is the float32 NCHW reference
    and the printed speed-up is the ratio of the two speeds."""
    if not any(cpu_bf16_flags().values()):
        # torch's CPU autocast emulates bfloat16 without the instructions
        from lcreg.engine.optimizers import bf16_optim_wrapper
        monkeypatch.setattr(bf16_optim_wrapper, 'cpu_bf16_flags', lambda: dict(
            avx512_bf16=True, amx_bf16=False))
    threads = torch.get_num_threads()
    try:
        throughput.main([str(DEMO), '--iters', '2', '--warmup', '1',
                         '--batch-size', '8', '--device', 'cpu', '--threads',
                         '1', '--amp', '--channels-last', '--variants',
                         'plain', 'fp32'])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert 'amp True, channels_last True' in out
    speeds = {tag: float(re.search(rf'^\({tag}\) .*?\s+([\d.]+)\s', out,
                                   re.M).group(1)) for tag in ('a', 'e')}
    ratio = float(re.search(r'\(a vs e\): x([\d.]+) images/s', out).group(1))
    bound = 0.05 / speeds['a'] + 0.05 / speeds['e']
    expected = speeds['a'] / speeds['e']
    assert ratio == pytest.approx(expected, abs=expected * bound + 0.005)


# ------------------------------------------------------------- reproduce
def test_scale_schedule(reproduce):
    cfg = _config(LCREG_CIFAR10)
    assert reproduce.scale_schedule(cfg, 1.0)[0] == []
    opts, text = reproduce.scale_schedule(cfg, 0.1)
    # 200 + 10 epochs -> 20 + 1; warm-up 5 -> 1 (at least one epoch);
    # milestones 160, 180 -> 16, 18; stage 2 cosine 200..210 -> 20..21;
    # validation every 10 -> 1
    assert opts == [
        'train_cfg.stage1_epochs=20', 'train_cfg.max_epochs=21',
        'param_scheduler.0.begin=0', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=0', 'param_scheduler.1.end=20',
        'param_scheduler.1.milestones=[16,18]',
        'param_scheduler.2.begin=20', 'param_scheduler.2.end=21',
        'train_cfg.val_interval=1']
    assert text.startswith('SHORTENED schedule') and '20 + 1 epochs' in text
    opts, _ = reproduce.scale_schedule(cfg, 0.01)
    assert 'param_scheduler.1.milestones=[2]' in opts
    assert 'train_cfg.stage1_epochs=2' in opts


def test_options_add_plus_for_missing_keys(reproduce):
    cfg = _config(LCREG_CIFAR10)
    assert reproduce.option(cfg, 'train_dataloader.num_workers', 8) == \
        'train_dataloader.num_workers=8'
    assert reproduce.option(cfg, 'train_dataloader.pin_memory', True) == \
        '+train_dataloader.pin_memory=True'
    opts = reproduce.speed_options(cfg, 0, 'cpu')
    assert 'train_dataloader.persistent_workers=False' in opts
    data = reproduce.data_options(cfg, '/data/c10', False)
    for key in reproduce.DATASET_KEYS:
        assert any(o.lstrip('+') == f'{key}.data_root=/data/c10'
                   for o in data), key
        assert any(o.lstrip('+') == f'{key}.verify_md5=False'
                   for o in data), key


def test_missing_data_names_the_fix(reproduce, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        reproduce.main(['--data-root', str(tmp_path / 'nothing'),
                        '--device', 'cpu', '--work-dir', str(tmp_path)])
    assert '--make-cifar-from' in str(err.value)
    with pytest.raises(SystemExit) as err:
        reproduce.main(['--data-root', str(tmp_path / 'nothing'),
                        '--make-cifar-from', str(tmp_path), '--device', 'cpu',
                        '--work-dir', str(tmp_path)])
    assert 'make_cifar.py' in str(err.value)


@pytest.mark.parametrize('argv, amp, channels_last', [
    (['--device', 'cuda'], True, True),
    (['--device', 'cuda', '--no-amp', '--no-channels-last'], False, False),
    (['--device', 'cpu'], False, False),
    (['--device', 'cpu', '--channels-last'], False, True),
])
def test_reproduce_speed_switch_defaults(reproduce, argv, amp, channels_last):
    args = reproduce.parse_args(argv)
    assert (args.amp, args.channels_last) == (amp, channels_last)


def test_reproduce_dry_run_both_methods(reproduce, cifar10_root, tmp_path,
                                        capsys):
    summary = reproduce.main([
        '--data-root', cifar10_root, '--work-dir', str(tmp_path), '--device',
        'cpu', '--workers', '0', '--epochs-scale', '0.5', '--dry-run'])
    out = capsys.readouterr().out
    assert list(summary['methods']) == ['mislas', 'lcreg']
    for name in ('mislas', 'lcreg'):
        cmd = next(line for line in out.splitlines()
                   if line.startswith('$ ') and 'tools/train.py' in line
                   and f'configs/{name}/' in line)
        assert f'--work-dir {tmp_path / name}' in cmd
        for opt in ('train_cfg.stage1_epochs=100', 'train_cfg.max_epochs=105',
                    'param_scheduler.1.milestones=[80,90]',
                    'train_dataloader.dataset.verify_md5=False',
                    f'test_evaluator.train_dataset.data_root={cifar10_root}'):
            assert opt in cmd.split(), (name, opt)
        assert '--amp' not in cmd  # never on the CPU
        assert '--channels-last' not in cmd  # not by default on the CPU
    assert out.count('SHORTENED schedule (--epochs-scale 0.5): 100 + 5') == 2
    assert list(tmp_path.iterdir()) == []  # no work dirs, no summary


def test_reproduce_dry_run_writes_nothing_and_needs_no_gpu(
        reproduce, tmp_path, capsys, monkeypatch):
    """Data missing, --make-cifar-from given, the default --device cuda on
    a machine without a GPU: the dry run prints what it would build and
    the commands of a GPU run, and creates no file or folder."""
    source = tmp_path / 'shared'
    source.mkdir()
    marker = tmp_path / 'make_cifar_ran'
    (source / 'make_cifar.py').write_text(
        f'open({str(marker)!r}, "w").close()\n')
    for name in ('cifar10-jpeg.tar.gz', 'cifar10_train_order.txt'):
        (source / name).write_bytes(b'')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    before = sorted(tmp_path.rglob('*'))
    data_root = tmp_path / 'cifar10'
    work_dir = tmp_path / 'work'
    summary = reproduce.main([
        '--data-root', str(data_root), '--make-cifar-from', str(source),
        '--work-dir', str(work_dir), '--workers', '0', '--smoke-subset',
        '48', '--dry-run'])
    out = capsys.readouterr().out
    assert sorted(tmp_path.rglob('*')) == before  # nothing built or written
    assert not marker.exists()
    assert (f'would build {data_root} from {source / "make_cifar.py"}'
            in out), out
    assert 'no CUDA GPU is visible here' in out
    assert 'assuming the re-packed copy' in out
    assert 'verify_md5=False' in out
    assert summary['device'] == 'cuda' and summary['verify_md5'] is False
    assert list(summary['methods']) == ['mislas', 'lcreg']
    commands = [line for line in out.splitlines() if line.startswith('$ ')]
    assert len(commands) == 4
    for name in ('mislas', 'lcreg'):
        train = next(c for c in commands if 'tools/train.py' in c
                     and f'configs/{name}/' in c).split()
        test = next(c for c in commands if 'tools/test.py' in c
                    and f'configs/{name}/' in c).split()
        assert '--amp' in train and '--channels-last' in train
        assert train[train.index('--work-dir') + 1] == str(work_dir / name)
        assert f'train_dataloader.dataset.data_root={data_root}' in train
        assert 'train_dataloader.dataset.verify_md5=False' in train
        assert any(o.startswith('train_dataloader.dataset.indices=<')
                   or o.startswith('+train_dataloader.dataset.indices=<')
                   for o in train)
        # tools/test.py has no --amp / --channels-last; the GPU settings
        for cmd in (train, test):
            assert '+env_cfg.cudnn_benchmark=True' in cmd or \
                'env_cfg.cudnn_benchmark=True' in cmd
            assert any(o.lstrip('+') == 'test_dataloader.pin_memory=True'
                       for o in cmd)
        assert f'test_dataloader.dataset.data_root={data_root}' in test
        assert test[test.index('--work-dir') + 1] == str(
            work_dir / name / 'test')


def test_reproduce_without_gpu_refused_unless_dry_run(reproduce, tmp_path,
                                                      monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as err:
        reproduce.main(['--data-root', str(tmp_path / 'nothing'),
                        '--work-dir', str(tmp_path / 'work')])
    assert 'no CUDA GPU is visible' in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_reproduce_smoke_run(cifar10_root, tmp_path):
    """Both methods at once (--parallel), both stages, test and summary,
    on a tiny CPU run."""
    work_dir = tmp_path / 'repro'
    result = subprocess.run(
        [sys.executable, str(BENCH / 'reproduce.py'), '--data-root',
         cifar10_root, '--work-dir', str(work_dir), '--epochs-scale', '0.01',
         '--device', 'cpu', '--workers', '0', '--smoke-subset', '48',
         '--parallel', '--channels-last'],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout[-3000:] +
                                    result.stderr[-3000:])
    out = result.stdout
    assert 're-packed copy' in out and 'verify_md5=False' in out
    assert out.count('SHORTENED schedule (--epochs-scale 0.01): 2 + 1 epochs '
                     'instead of 200 + 10') == 2
    assert 'SMOKE TEST: 48 training / test images' in out
    assert 'SHORTENED / SMOKE run: not comparable with the paper.' in out
    summary = json.loads((work_dir / 'summary.json').read_text())
    assert summary['shortened'] is True and summary['verify_md5'] is False
    assert summary['smoke_subset'] == 48 and summary['amp'] is False
    assert summary['parallel'] is True and summary['channels_last'] is True
    assert list(summary['methods']) == ['mislas', 'lcreg']
    for name, paper in (('mislas', 82.1), ('lcreg', 83.1)):
        method = summary['methods'][name]
        assert f'{name} (test)' in out  # the per-split table
        assert f'[{name}] $ ' in out  # tagged command lines
        assert Path(method['checkpoint']).name == 'epoch_3.pth'
        metrics = method['metrics']
        assert 0 <= metrics['lt/top1'] <= 100
        assert metrics['lt/num_many'] + metrics['lt/num_medium'] + \
            metrics['lt/num_few'] == 10
        assert len(metrics['lt/per_class']) == 10
        assert method['train_seconds'] > 0 and method['test_seconds'] > 0
        assert method['published_top1'] == paper
        log = (work_dir / name / 'train_output.log').read_text()
        assert 'stage 2 (classifier) from epoch 2' in log
        assert re.search(r'ChannelsLastHook: \d+ 4-D parameters', log)
        assert ('loss_latent_aug' in log) == (name == 'lcreg')
        assert re.search(rf'^{name}\s+[\d.]+\s', out, re.M)
    # the two trainings overlapped: the pair took less than their sum
    assert summary['wall_seconds'] < sum(
        m['train_seconds'] + m['test_seconds']
        for m in summary['methods'].values())
    # every class is in the 48-image training subset (stage 2 needs it)
    indices = re.search(r'train_dataloader\.dataset\.indices=\[([\d,]+)\]',
                        out).group(1).split(',')
    assert 48 <= len(indices) <= 58
