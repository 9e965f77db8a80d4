"""Multi-process training and testing on the CPU (torchrun + gloo).

``tools/dist_train.sh CONFIG 2`` trains the tiny two-stage run with two
processes (stage 2 freezes parameters after DDP is built, which needs the
config's ``find_unused_parameters``); only rank 0 writes logs and
checkpoints. ``tools/dist_test.sh`` with two processes gives the metrics
of the one-process ``tools/test.py`` (run in this process) on a 75-image
test set (not divisible by 2: the sampler pads rank 1 with a repeated
image that the evaluator must drop). ``sync_bn='torch'`` is accepted and,
on CPUs, skipped with a warning.
"""
import json
import math
import pickle
import re
import warnings

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from fixtures.tool_runs import (TINY_CONFIG, free_port, run_in_process,
                                run_tool, write_config)
from lcreg.engine.runner import setup_cpu_distributed

TEST_SIZE = 75
DUMP_CONFIG = """
test_evaluator = [
    {metric!r},
    dict(type='DumpResults', out_file_path='unset.pkl'),
]
"""


def _metrics(path):
    with open(path) as f:
        return json.load(f)


def _assert_same_metrics(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], list):
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                assert (math.isnan(x) and math.isnan(y)) or x == \
                    pytest.approx(y, abs=1e-9), key
        else:
            assert a[key] == pytest.approx(b[key], abs=1e-9), key


def _predictions(path):
    with open(path, 'rb') as f:  # written by this test's own run
        samples = pickle.load(f)
    return {int(s['sample_idx']): s for s in samples}, len(samples)


def test_dist_train_then_dist_test_matches_one_process(tmp_path):
    work = tmp_path / 'dist_work'
    # --channels-last: ChannelsLastHook converts the DDP-wrapped model
    # (tests/test_engine/test_channels_last_hook.py has the one-process case)
    train = run_tool(
        'dist_train.sh', TINY_CONFIG, 2, '--work-dir', work,
        '--channels-last', '--cfg-options', 'sync_bn=torch',
        PORT=free_port(), timeout=600)
    assert train.returncode == 0, train.stderr[-4000:]
    out = train.stdout + train.stderr
    assert re.search(r'ChannelsLastHook: \d+ 4-D parameters', out)
    assert 'Grad strides do not match bucket view strides' not in out
    # 97 images over 2 ranks: ceil(97 / 2) = 49 per rank, 4 batches of 16
    assert 'Epoch(train) [1][4/4]' in out
    assert 'Epoch(train) [1][5/' not in out
    assert 'stage 2 (classifier) from epoch 2' in out
    assert "sync_bn='torch' is ignored: SyncBatchNorm needs CUDA" in out
    # rank 0 alone writes: one log folder, the checkpoints, last_checkpoint
    assert sorted(p.name for p in work.glob('*.pth')) == [
        f'epoch_{e}.pth' for e in range(1, 5)] + ['stage1.pth']
    assert (work / 'last_checkpoint').read_text().strip() == str(
        work / 'epoch_4.pth')
    assert len(list(work.glob('*/*.log'))) == 1
    assert len([p for p in work.iterdir() if p.is_dir()]) == 1
    ckpt = work / 'epoch_4.pth'

    # the tiny run's metric, plus a dump of every prediction
    metric = Config.fromfile(str(TINY_CONFIG)).test_evaluator.to_dict()
    config = write_config(tmp_path / 'dump.py',
                          DUMP_CONFIG.format(metric=metric))
    single_dir, dist_dir = tmp_path / 'test1', tmp_path / 'test2'
    assert run_in_process(
        'test', config, ckpt, '--work-dir', single_dir, '--out',
        single_dir / 'metrics.json', '--cfg-options',
        f"test_evaluator.1.out_file_path={single_dir / 'pred.pkl'}") == 0
    multi = run_tool(
        'dist_test.sh', config, ckpt, 2, '--work-dir', dist_dir, '--out',
        dist_dir / 'metrics.json', '--cfg-options',
        f"test_evaluator.1.out_file_path={dist_dir / 'pred.pkl'}",
        PORT=free_port(), timeout=600)
    assert multi.returncode == 0, multi.stderr[-4000:]
    # 75 test images: 38 per rank (3 batches), rank 1's last one a repeat
    assert 'Epoch(test) [3/3]' in multi.stdout + multi.stderr

    # every test image once: none dropped, the padding repeat removed
    single_pred, n_single = _predictions(single_dir / 'pred.pkl')
    dist_pred, n_dist = _predictions(dist_dir / 'pred.pkl')
    assert n_single == n_dist == TEST_SIZE
    assert sorted(dist_pred) == list(range(TEST_SIZE))
    for idx, sample in single_pred.items():
        other = dist_pred[idx]
        assert torch.equal(sample['gt_label'], other['gt_label'])
        assert torch.allclose(sample['pred_score'], other['pred_score'],
                              atol=1e-5)
    _assert_same_metrics(_metrics(single_dir / 'metrics.json'),
                         _metrics(dist_dir / 'metrics.json'))
    assert 'lt/top1' in _metrics(dist_dir / 'metrics.json')


def test_sync_bn_is_a_known_config_key():
    """``--cfg-options sync_bn=torch`` needs the key in the runtime base."""
    cfg = Config.fromfile(str(TINY_CONFIG))
    assert 'sync_bn' in cfg and cfg.sync_bn is None
    assert cfg.find_unused_parameters is True  # two-stage recipe


@pytest.fixture
def one_process_group(monkeypatch):
    """A gloo 'world' of one process, as torchrun would describe it."""
    if dist.is_initialized():
        pytest.skip('a process group already exists in this process')
    for key, value in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=free_port(),
                           RANK=0, WORLD_SIZE=1, LOCAL_RANK=0).items():
        monkeypatch.setenv(key, str(value))
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='the CPU path is only taken without a GPU')
def test_cpu_distributed_wrapper_settings(one_process_group):
    cfg = Config(dict(sync_bn='torch', find_unused_parameters=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert setup_cpu_distributed(cfg, 'pytorch') is True
    assert dist.is_initialized() and dist.get_backend() == 'gloo'
    assert cfg.sync_bn is None
    assert any("sync_bn='torch' is ignored" in str(w.message)
               for w in caught)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True,
        broadcast_buffers=False, device_ids=None)

    # an explicit model_wrapper_cfg wins over the top-level key
    cfg = Config(dict(find_unused_parameters=True, model_wrapper_cfg=dict(
        find_unused_parameters=False)))
    setup_cpu_distributed(cfg, 'pytorch')
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    assert cfg.get('sync_bn') is None


def test_no_launcher_changes_nothing():
    cfg = Config(dict(sync_bn='torch'))
    assert setup_cpu_distributed(cfg, 'none') is False
    assert cfg.sync_bn == 'torch' and 'model_wrapper_cfg' not in cfg


def test_destroy_process_group_ends_the_group_once(one_process_group):
    from lcreg.engine.runner import destroy_process_group
    dist.init_process_group(backend='gloo', init_method='env://')
    destroy_process_group()  # what train.py / test.py do at the end
    assert not dist.is_initialized()
    destroy_process_group()  # no group: nothing to do


RANK_DUMP_CONFIG = """
custom_imports = dict(imports=['lcreg', 'rank_dump_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='LatentAugScheduleHook'),
                dict(type='RankDumpHook', out_dir={out_dir!r})]
randomness = dict(seed=0, deterministic=True, diff_rank_seed=True)
train_cfg = dict(stage2=dict(reset_classifier=True))
"""


@pytest.fixture(scope='module')
def rank_dumps(tmp_path_factory):
    """The tiny run on 2 gloo processes with ``diff_rank_seed=True`` and a
    cRT stage 2 (classifier re-drawn at the switch): each rank's sampler
    indices and final model state."""
    tmp = tmp_path_factory.mktemp('ddp_ranks')
    config = write_config(tmp / 'ranks.py',
                          RANK_DUMP_CONFIG.format(out_dir=str(tmp)))
    result = run_tool('dist_train.sh', config, 2, '--work-dir', tmp / 'work',
                      '--no-validate', PORT=free_port(), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    dumps = [torch.load(tmp / f'rank{r}.pth') for r in range(2)]
    checkpoint = torch.load(tmp / 'work' / 'epoch_4.pth', weights_only=False)
    return dumps + [checkpoint['state_dict']]


def test_ranks_hold_one_model_after_ddp_training(rank_dumps):
    """Every parameter, the covariance estimator (mean / covariance /
    count, all-reduced) and the re-drawn cRT classifier are the same on
    both ranks. BN running statistics are each rank's own (no SyncBN on
    CPUs, MMEngine's broadcast_buffers=False); the checkpoint holds rank
    0's."""
    first, second = (d['state'] for d in rank_dumps[:2])
    saved = rank_dumps[2]
    assert first.keys() == second.keys()
    estimator = [k for k in first if '.estimator.' in k]
    assert {k.rsplit('.', 1)[1] for k in estimator} == {
        'mean', 'covariance', 'count'}
    assert first['neck.aug_loss.estimator.count'].sum() > 0
    for key in estimator + [k for k in first if k.startswith('head.')]:
        assert torch.equal(first[key], second[key]), key
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(TINY_CONFIG))
    params = {n for n, _ in MODELS.build(cfg.model).named_parameters()}
    for key in sorted(params):
        assert torch.equal(first[key], second[key]), key
    differ = {k for k in first if not torch.equal(first[k], second[k])}
    assert differ and all(k.endswith(('.running_mean', '.running_var'))
                          for k in differ), sorted(differ)[:4]
    for key, value in first.items():
        assert torch.equal(saved[key], value), key


def test_stage2_rank_shards_form_one_global_epoch(rank_dumps):
    """``diff_rank_seed=True``: the stage-2 class-aware sampler is seeded
    with the seed of all ranks (0), so rank r yields positions r, r + 2,
    ... of one global sequence: that of a 1-process sampler of seed 0."""
    from mmengine.registry import init_default_scope

    from lcreg.datasets.samplers import ClassAwareSampler
    from mmpretrain.registry import DATASETS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(str(TINY_CONFIG))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    for epoch in (2, 3):  # stage 2 of the 2 + 2 epochs
        shards = []
        for rank, dump in enumerate(rank_dumps[:2]):
            name, indices = dump['indices'][epoch]
            assert name == 'ClassAwareSampler'
            expected = ClassAwareSampler(dataset, num_samples_cls=4, seed=0,
                                         rank=rank, world_size=2)
            expected.set_epoch(epoch)
            assert indices == list(expected), (epoch, rank)
            shards.append(indices)
        assert len(shards[0]) == len(shards[1])


# ------------------------------------------ total batch and --auto-scale-lr
# One stage-1 epoch of the tiny run (97 images: 4 batches of 16 per rank
# with 2 processes, 2 with 4), lr 0.05 held constant, stated for a total
# batch of 64: 4 processes × 16 train it as stated, 2 processes × 16 = 32
# train half of it.
ONE_EPOCH_AT_64 = """
auto_scale_lr = dict(enable=False, base_batch_size=64)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True,
                        begin=0, end=1)]
train_cfg = dict(max_epochs=1, stage1_epochs=1, val_interval=100)
"""
TOTAL_BATCH_LINE = re.compile(
    r'total batch: (\d+) processes × (\d+) per process = (\d+) '
    r'\(the lrs are for (\d+)\); lr (not rescaled \(auto_scale_lr off\)|'
    r'rescaled ×([\d.]+) \((\d+) / (\d+)\)): (.*)')


def _total_batch_lines(out):
    return [TOTAL_BATCH_LINE.search(line) for line in out.splitlines()
            if 'total batch:' in line]


@pytest.mark.parametrize('processes, auto_scale_lr, ratio', [
    (2, False, None), (2, True, 0.5), (4, False, None), (4, True, 1.0)])
def test_dist_train_logs_total_batch_and_scales_lr(tmp_path, processes,
                                                   auto_scale_lr, ratio):
    """tools/dist_train.sh with N gloo processes: one start line says
    N × 16 = total batch, the recipe's 64, every group's lr and whether it
    was rescaled; the optimizer's lrs (in the stage-1 checkpoint) are the
    config's 0.05, × total / 64 with --auto-scale-lr."""
    config = write_config(tmp_path / 'one_epoch.py', ONE_EPOCH_AT_64)
    work = tmp_path / 'work'
    flags = ['--auto-scale-lr'] if auto_scale_lr else []
    train = run_tool('dist_train.sh', config, processes, '--work-dir', work,
                     '--no-validate', *flags, PORT=free_port(), timeout=600)
    assert train.returncode == 0, train.stderr[-4000:]
    out = train.stdout + train.stderr
    lines = _total_batch_lines(out)
    assert len(lines) == 1 and lines[0], out[-4000:]  # rank 0 only
    world, per_process, total, base = map(int, lines[0].group(1, 2, 3, 4))
    assert (world, per_process, total, base) == (processes, 16,
                                                 16 * processes, 64)
    lr = 0.05 * (ratio or 1.0)
    if ratio is None:
        assert lines[0].group(5).startswith('not rescaled')
    else:
        assert float(lines[0].group(6)) == ratio
    lrs = lines[0].group(9).split('. The total batch')[0]  # the warning's
    logged = dict(item.split(' ') for item in lrs.split(', '))
    assert set(logged) == {'representation', 'classifier', 'scale'}
    assert all(float(v) == pytest.approx(lr) for v in logged.values())
    # 2 × 16 = 32 at the lr of 64, not rescaled: said in a warning
    mismatch = processes == 2 and not auto_scale_lr
    assert ('--auto-scale-lr (auto_scale_lr.enable=True) to rescale them, '
            'or set train_dataloader.batch_size=32' in out) == mismatch
    # the optimizer's actual lrs after the epoch (ConstantLR: unchanged)
    state = torch.load(work / 'stage1.pth', map_location='cpu',
                       weights_only=False)
    assert [g['lr'] for g in state['optimizer']['param_groups']] == \
        pytest.approx([lr] * 3)


SPLITS = TINY_CONFIG.parents[2].parent / 'shared' / 'data' / 'splits'


@pytest.mark.skipif(not (SPLITS / 'ImageNet_LT').is_dir(),
                    reason=f'ImageNet-LT split lists not found at {SPLITS}')
def test_literal_8_process_command_trains_the_recipe_batch(tmp_path):
    """`tools/dist_train.sh configs/lcreg/resnet50_imagenet-lt.py 8`, as the
    README says, on 8 CPU processes with a zero-epoch schedule (no images
    needed: the split lists build the dataset): 8 × 32 = 256 at lr 0.1,
    not rescaled."""
    train = run_tool(
        'dist_train.sh', 'configs/lcreg/resnet50_imagenet-lt.py', 8,
        '--work-dir', tmp_path / 'work', '--no-validate', '--cfg-options',
        'train_cfg.max_epochs=0', 'train_cfg.stage1_epochs=0',
        'param_scheduler=None', f'train_dataloader.dataset.data_root={SPLITS}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        PORT=free_port(), timeout=600)
    assert train.returncode == 0, train.stderr[-4000:]
    lines = _total_batch_lines(train.stdout + train.stderr)
    assert len(lines) == 1 and lines[0]
    assert lines[0].group(1, 2, 3, 4) == ('8', '32', '256', '256')
    assert lines[0].group(5) == 'not rescaled (auto_scale_lr off)'
    assert set(lines[0].group(9).split(', ')) == {
        'representation 0.1', 'classifier 0.1', 'scale 0.1'}
