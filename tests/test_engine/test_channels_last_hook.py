"""ChannelsLastHook and ``tools/train.py --channels-last``.

On tiny modules: what is converted, in place. Through the real tools on the
tiny Digits-LT run (fixtures/tiny_digits_lt.py, 2 + 2 epochs of 7
iterations): the same initial weights and losses as without the hook (up
to summation order), the trained weights stored channels-last, a resumed
channels-last run bit-identical to the uninterrupted one, and tools/test.py
loading the channels-last checkpoint into an ordinary model. (The DDP case
is in tests/test_tools/test_dist_train.py.)
"""
import json

import pytest
import torch
from torch import nn

from fixtures.tool_runs import TINY_CONFIG, run_in_process
from lcreg.engine.hooks.channels_last_hook import to_channels_last
from lcreg.engine.runner.safe_checkpoint import load_checkpoint_file

CL = torch.channels_last


def test_to_channels_last_converts_4d_tensors_in_place():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                          nn.Conv2d(4, 2, 3), nn.Flatten(),
                          nn.Linear(2, 5)).eval()
    model.register_buffer('mask', torch.ones(1, 2, 3, 3))
    params = {name: p for name, p in model.named_parameters()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 5, 5)
    expected = model(x)

    # two conv weights and the 4-D buffer; biases, BN and Linear are not 4-D
    assert to_channels_last(model) == 3
    assert model[0].weight.is_contiguous(memory_format=CL)
    assert model[2].weight.is_contiguous(memory_format=CL)
    assert model.mask.is_contiguous(memory_format=CL)
    assert not model[0].weight.is_contiguous()
    for name, p in model.named_parameters():
        assert p is params[name]  # the optimizer's references stay valid
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    torch.testing.assert_close(model(x), expected)
    assert to_channels_last(model) == 0  # idempotent


def _losses(work_dir):
    """Training losses of a run, in iteration order (scalars.json)."""
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert len(scalars) == 1, scalars
    lines = [json.loads(line) for line in scalars[0].read_text().splitlines()]
    return [x['loss'] for x in lines if 'loss' in x]


def _log(work_dir):
    logs = sorted(work_dir.glob('*/*.log'))
    assert len(logs) == 1, logs
    return logs[0].read_text()


def _num_4d(checkpoint):
    return sum(1 for v in checkpoint['state_dict'].values() if v.dim() == 4)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """The tiny run without and with --channels-last, 4 epochs each."""
    root = tmp_path_factory.mktemp('channels_last')
    plain, cl = root / 'plain', root / 'cl'
    assert run_in_process('train', TINY_CONFIG, '--work-dir', plain) == 0
    assert run_in_process('train', TINY_CONFIG, '--work-dir', cl,
                          '--channels-last') == 0
    return dict(root=root, plain=plain, cl=cl)


def test_same_start_as_without_the_hook(runs):
    plain, cl = _losses(runs['plain']), _losses(runs['cl'])
    assert len(plain) == len(cl) == 28  # 4 epochs of 7 iterations
    # converted after the weight initialisation: same weights, same first
    # losses up to the order of floating-point sums (the tiny run amplifies
    # such differences later on)
    torch.testing.assert_close(cl[:3], plain[:3], rtol=1e-3, atol=0)


def test_trained_weights_are_channels_last(runs):
    ckpt = load_checkpoint_file(str(runs['cl'] / 'epoch_4.pth'))
    num_4d = _num_4d(ckpt)
    assert num_4d > 20  # ResNet-32 convolutions
    assert f'ChannelsLastHook: {num_4d} 4-D parameters' in _log(runs['cl'])
    for key, value in ckpt['state_dict'].items():
        if value.dim() == 4 and value.shape[-1] > 1:
            assert value.is_contiguous(memory_format=CL), key
            assert not value.is_contiguous(), key
    plain = load_checkpoint_file(str(runs['plain'] / 'epoch_4.pth'))
    assert all(v.is_contiguous() for v in plain['state_dict'].values())
    assert 'ChannelsLastHook' not in _log(runs['plain'])


def test_resumed_run_matches_uninterrupted(runs):
    resumed = runs['root'] / 'resumed'
    assert run_in_process(
        'train', TINY_CONFIG, '--work-dir', resumed, '--channels-last',
        '--resume', runs['cl'] / 'epoch_2.pth') == 0
    a = load_checkpoint_file(str(runs['cl'] / 'epoch_4.pth'))
    b = load_checkpoint_file(str(resumed / 'epoch_4.pth'))
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][key], value, rtol=0,
                                   atol=0, msg=key)


def test_test_tool_loads_a_channels_last_checkpoint(runs):
    out = runs['root'] / 'test' / 'metrics.json'
    assert run_in_process(
        'test', TINY_CONFIG, runs['cl'] / 'epoch_4.pth', '--work-dir',
        out.parent, '--out', out) == 0
    metrics = json.loads(out.read_text())
    # the last validation of the channels-last run, same checkpoint
    val = [json.loads(line) for line in sorted(runs['cl'].glob(
        '*/vis_data/scalars.json'))[0].read_text().splitlines()]
    last_val = [x for x in val if 'lt/top1' in x][-1]
    assert metrics['lt/top1'] == pytest.approx(last_val['lt/top1'], abs=1e-3)
    assert metrics['lt/ece'] == pytest.approx(last_val['lt/ece'], abs=1e-2)


def test_flag_adds_the_hook_once(tmp_path, capsys):
    from fixtures.tool_runs import load_tool, write_config
    train = load_tool('train')
    cfg = train.build_config(train.parse_args(
        [str(TINY_CONFIG), '--channels-last']))
    types = [h['type'] for h in cfg.custom_hooks]
    assert types.count('ChannelsLastHook') == 1
    assert types[:-1] == [h['type'] for h in train.build_config(
        train.parse_args([str(TINY_CONFIG)])).get('custom_hooks', [])]
    config = write_config(
        tmp_path / 'with_hook.py',
        "custom_hooks = [dict(type='ChannelsLastHook')]\n")
    cfg = train.build_config(train.parse_args(
        [str(config), '--channels-last']))
    assert [h['type'] for h in cfg.custom_hooks] == ['ChannelsLastHook']
    assert 'ChannelsLastHook is already in the config' in \
        capsys.readouterr().out
