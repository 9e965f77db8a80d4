"""Post-hoc logit adjustment: ``logit_adjust_sweep`` by hand, and
``tau_norm_sweep.py --method logit-adjust`` agreeing with tools/test.py
under the ``default_hooks.logit_adjust.tau`` it prints (demo config)."""
import json
import math
import shlex
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import lcreg  # noqa: F401
from fixtures.tool_runs import load_tool, run_in_process
from lcreg.engine.hooks.posthoc_logit_adjust_hook import logit_adjust_sweep

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / 'demo' / 'lcreg_resnet32_digits-lt.py'
SMALL = '+{}_dataloader.dataset.test_per_class=6'


def test_sweep_by_hand():
    # n = (3, 1): log π = (log 0.75, log 0.25) = (-0.2877, -1.3863)
    # A: f = (0.5, 0), label 1: τ=0 -> 0 (wrong); τ=1: (0.788, 1.386) -> 1;
    #    τ=2: (1.075, 2.773) -> 1
    # B: f = (2, 0), label 0: τ=0, 1 -> 0; τ=2: (2.575, 2.773) -> 1 (wrong)
    logits = torch.tensor([[0.5, 0.0], [2.0, 0.0]])
    best, scores = logit_adjust_sweep(logits, torch.tensor([1, 0]), [3, 1],
                                      taus=[0.0, 1.0, 2.0])
    assert scores == {0.0: 50.0, 1.0: 100.0, 2.0: 50.0}
    assert best == 1.0
    assert math.log(0.25) - math.log(0.75) == pytest.approx(-1.0986, 1e-4)


@pytest.mark.parametrize('kwargs, match', [
    (dict(taus=[-1.0]), r'tau=-1\.0 must be >= 0'),
    (dict(class_counts=[3, 0]), r'class_counts\[1\] = 0'),
    (dict(class_counts=[3, 1, 1]), r'expected \(N, 3\)'),
])
def test_sweep_bad_input(kwargs, match):
    args = dict(logits=torch.zeros(2, 2), labels=torch.tensor([0, 1]),
                class_counts=[3, 1], taus=[1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        logit_adjust_sweep(**args)


def test_tool_and_printed_test_command_agree(tmp_path, capsys):
    torch.manual_seed(0)
    cfg = Config.fromfile(str(CONFIG))
    model_cfg = cfg.model.to_dict()
    model_cfg['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    model = MODELS.build(model_cfg)
    with torch.no_grad():  # a strong bias to the head classes
        model.head.fc.bias.copy_(torch.linspace(3.0, 0.0, 10))
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    result = load_tool('analysis/tau_norm_sweep').main([
        str(CONFIG), str(ckpt), '--method', 'logit-adjust', '--taus',
        '0,1,2', '--out', str(tmp_path / 'sweep.json'), '--device', 'cpu',
        '--cfg-options', SMALL.format('val')])
    assert result['method'] == 'logit-adjust'
    assert set(result['top1']) == {'0', '1', '2'}
    printed = capsys.readouterr().out
    words = shlex.split(printed.split('evaluate with: ', 1)[1].splitlines()[0])
    assert words[4:] == ['--cfg-options',
                         f'default_hooks.logit_adjust.tau='
                         f'{result["best_tau"]:g}']
    per_class = {}
    for tau in sorted(result['top1']):
        out = tmp_path / f'metrics_{tau}.json'
        status = run_in_process(
            'test', str(CONFIG), str(ckpt), '--work-dir', tmp_path / tau,
            '--out', out, '--cfg-options',
            f'default_hooks.logit_adjust.tau={tau}', SMALL.format('test'))
        assert status == 0, capsys.readouterr().err[-2000:]
        metrics = json.loads(out.read_text())
        assert metrics['lt/top1'] == pytest.approx(result['top1'][tau])
        per_class[tau] = metrics['lt/per_class']
    # the untrained model predicts one class for every image: the head
    # class 0 (its bias) without adjustment, another one with τ = 2
    assert per_class['0'][0] == 100.0
    assert per_class['2'] != per_class['0']
