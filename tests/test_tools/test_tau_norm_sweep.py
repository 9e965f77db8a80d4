"""tools/analysis/tau_norm_sweep.py: the sweep agrees with the model's own
prediction path for every tau, on the demo config (Digits-LT, LCReg)."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import lcreg  # noqa: F401  (registration)

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'tau_norm_sweep.py'
CONFIG = REPO / 'configs' / 'demo' / 'lcreg_resnet32_digits-lt.py'
# 6 test images per class (60) keep the feature pass short
SMALL_VAL = ['+val_dataloader.dataset.test_per_class=6']


def _tool():
    spec = importlib.util.spec_from_file_location('tau_norm_sweep', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(cfg):
    model_cfg = cfg.model.to_dict()
    model_cfg['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    return MODELS.build(model_cfg)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A random demo model whose class weights have very different norms
    (so tau changes predictions)."""
    torch.manual_seed(0)
    model = _model(Config.fromfile(str(CONFIG)))
    with torch.no_grad():
        model.head.fc.weight.mul_(torch.linspace(0.2, 5.0, 10)[:, None])
        model.head.scale.copy_(torch.linspace(1.5, 0.5, 10))
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def _accuracy_through_predict(ckpt, tau):
    """Top-1 of model.val_step with head.tau = tau (the tools/test.py path)."""
    cfg = Config.fromfile(str(CONFIG))
    cfg.val_dataloader.dataset.test_per_class = 6
    init_default_scope('mmpretrain')
    model = _model(cfg)
    model.load_state_dict(torch.load(ckpt)['state_dict'])
    model.head.tau = tau
    model.eval()
    correct = total = 0
    for batch in Runner.build_dataloader(cfg.val_dataloader.to_dict()):
        with torch.no_grad():
            for sample in model.val_step(batch):
                correct += int(sample.pred_label == sample.gt_label)
                total += 1
    return 100.0 * correct / total


def test_sweep_matches_the_prediction_path(checkpoint, tmp_path, capsys):
    out = tmp_path / 'sweep.json'
    result = _tool().main([
        str(CONFIG), str(checkpoint), '--taus', '0:1:0.5', '--out', str(out),
        '--device', 'cpu', '--cfg-options'] + SMALL_VAL)
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert written['taus'] == [0.0, 0.5, 1.0]
    assert written['num_samples'] == 60 and written['split'] == 'val'
    top1 = written['top1']
    assert set(top1) == {'0', '0.5', '1'}
    for tau in (0.0, 1.0):
        assert top1[f'{tau:g}'] == pytest.approx(
            _accuracy_through_predict(checkpoint, tau))
    assert top1['0'] != top1['1']  # the norms differ: tau matters here
    best = max(top1.values())
    assert written['best_top1'] == best
    assert top1[f'{written["best_tau"]:g}'] == best
    assert f'best tau = {written["best_tau"]:g}' in printed
    assert 'model.head.tau=' in printed
    assert '60/60' in printed  # the progress bar ran to the end


def test_parse_taus():
    parse = _tool().parse_taus
    assert parse('0:2:0.1') == pytest.approx([i / 10 for i in range(21)])
    assert parse('0:2:0.1')[-1] == 2.0
    assert parse('0.5,1,1.5') == [0.5, 1.0, 1.5]
    assert parse('1:1:0.5') == [1.0]
    for bad in ('1:0:0.1', '0:1:0', '0:1', 'a,b', ''):
        with pytest.raises(Exception, match='--taus'):
            parse(bad)


def test_refuses_a_head_without_tau_norm(tmp_path):
    ce = REPO / 'configs' / 'baselines' / 'resnet32_cifar10-lt-if100_ce.py'
    with pytest.raises(ValueError, match='ScaledLinearClsHead'):
        _tool().main([str(ce), str(tmp_path / 'missing.pth')])


def test_refuses_a_checkpoint_of_another_model(tmp_path):
    torch.save(dict(state_dict=dict(other=torch.zeros(1)), meta=dict()),
               tmp_path / 'other.pth')
    with pytest.raises(ValueError, match=r'does not fit the model of .*'
                       r'1 unexpected keys \(other\)'):
        _tool().main([str(CONFIG), str(tmp_path / 'other.pth'),
                      '--device', 'cpu'])


def test_linear_head_checkpoint_loads_with_scale_one(checkpoint, tmp_path):
    """A LinearClsHead checkpoint (no head.scale) is accepted."""
    state = torch.load(checkpoint)['state_dict']
    state.pop('head.scale')
    path = tmp_path / 'linear_head.pth'
    torch.save(dict(state_dict=state, meta=dict()), path)
    cfg = Config.fromfile(str(CONFIG))
    model = _tool().build_model(cfg, str(path), 'cpu')
    assert torch.equal(model.head.scale, torch.ones(10))
    assert torch.equal(model.head.fc.weight, state['head.fc.weight'])


def test_warns_when_the_val_split_is_the_test_set():
    from mmengine.config import Config
    find = _tool().split_is_the_test_set
    cfg = Config.fromfile(str(REPO / 'configs' / 'mislas' /
                              'resnet50_imagenet-lt.py'))
    assert find(cfg, 'val') == 'ImageNet_LT/ImageNet_LT_test.txt'
    assert find(cfg, 'test') == ''
    cfg.val_dataloader.dataset.ann_file = 'ImageNet_LT/ImageNet_LT_val.txt'
    assert find(cfg, 'val') == ''


def test_printed_test_command_works_for_a_linear_head_checkpoint(
        checkpoint, tmp_path, capsys):
    """A cross-entropy (LinearClsHead) checkpoint, without head.scale: the
    sweep accepts it, and the tools/test.py command it prints runs and
    evaluates with that tau (the scale staying 1)."""
    import shlex

    from fixtures.tool_runs import run_in_process
    state = torch.load(checkpoint)['state_dict']
    state.pop('head.scale')
    ce_ckpt = tmp_path / 'ce.pth'
    torch.save(dict(state_dict=state, meta=dict()), ce_ckpt)
    result = _tool().main([
        str(CONFIG), str(ce_ckpt), '--taus', '0,1', '--out',
        str(tmp_path / 'sweep.json'), '--device', 'cpu', '--cfg-options']
        + SMALL_VAL)
    printed = capsys.readouterr().out
    command = printed.split('evaluate with: ', 1)[1].splitlines()[0]
    words = shlex.split(command)
    assert words[:2] == ['python', 'tools/test.py']
    assert words[2:] == [str(CONFIG), str(ce_ckpt), '--cfg-options',
                         f'model.head.tau={result["best_tau"]:g}']
    out = tmp_path / 'metrics.json'
    # the command as printed, on the sweep's 60 images
    status = run_in_process(
        'test', *words[2:4], '--work-dir', tmp_path / 'w', '--out', out,
        *words[4:], '+test_dataloader.dataset.test_per_class=6')
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]
    assert f'{ce_ckpt} has no head.scale' in captured.out + captured.err
    metrics = json.loads(out.read_text())
    best = f'{result["best_tau"]:g}'
    assert metrics['lt/top1'] == pytest.approx(result['top1'][best])
