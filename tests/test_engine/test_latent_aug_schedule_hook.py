"""LatentAugScheduleHook: λ = λ0·t/T on every LatentISDALoss of the model."""
import types

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from lcreg.engine.hooks import LatentAugScheduleHook
from lcreg.models.necks import LatentCategoryNeck
from mmpretrain.registry import HOOKS


def _model():
    return nn.ModuleDict(dict(
        neck=LatentCategoryNeck(
            in_channels=4, num_latents=3,
            aug_loss=dict(type='LatentISDALoss', lambda0=0.5)),
        extra=LatentCategoryNeck(
            in_channels=4, num_latents=2,
            aug_loss=dict(type='LatentISDALoss', lambda0=2.0))))


def _fake_runner(model, iteration, max_iters=120, loader_len=20):
    return types.SimpleNamespace(model=model, iter=iteration,
                                 max_iters=max_iters,
                                 train_dataloader=[None] * loader_len)


def _lambdas(model):
    return [model['neck'].aug_loss.strength, model['extra'].aug_loss.strength]


def test_default_total_is_max_iters():
    model = _model()
    assert _lambdas(model) == [0.0, 0.0]  # before any hook: λ for t = 0
    hook = HOOKS.build(dict(type='LatentAugScheduleHook'))
    hook.before_train_iter(_fake_runner(model, 30), batch_idx=30)
    # t/T = 30/120 = 0.25 → λ = 0.5·0.25 and 2.0·0.25
    assert _lambdas(model) == pytest.approx([0.125, 0.5])


def test_total_iters_and_total_epochs_and_clamp():
    model = _model()
    LatentAugScheduleHook(total_iters=60).before_train_iter(
        _fake_runner(model, 30), 0)
    assert model['neck'].aug_loss.progress == pytest.approx(0.5)
    # T = 2 epochs · 20 iterations = 40 → 30/40
    LatentAugScheduleHook(total_epochs=2).before_train_iter(
        _fake_runner(model, 30), 0)
    assert model['neck'].aug_loss.progress == pytest.approx(0.75)
    # past the representation stage: λ stays at λ0
    LatentAugScheduleHook(total_epochs=1).before_train_iter(
        _fake_runner(model, 30), 0)
    assert _lambdas(model) == pytest.approx([0.5, 2.0])


def test_unwraps_model_wrappers():
    model = _model()
    wrapped = types.SimpleNamespace(module=model)
    LatentAugScheduleHook().before_train_iter(_fake_runner(wrapped, 60), 0)
    assert model['neck'].aug_loss.progress == pytest.approx(0.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match='not both'):
        LatentAugScheduleHook(total_iters=10, total_epochs=1)
    with pytest.raises(ValueError, match='total_epochs'):
        LatentAugScheduleHook(total_epochs=0)


# ------------------------------------------------------------- real Runner
class _ToyModel(BaseModel):
    """Records λ at every training step."""

    def __init__(self):
        super().__init__()
        self.neck = LatentCategoryNeck(
            in_channels=4, num_latents=2, fuse='none',
            aug_loss=dict(type='LatentISDALoss', lambda0=1.0))
        self.seen_lambdas = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.seen_lambdas.append(self.neck.aug_loss.strength)
        _, losses = self.neck.loss((torch.stack(inputs), ))
        return losses


def _run(work_dir, max_iters, resume=False):
    data = [dict(inputs=torch.randn(4, 2, 2)) for _ in range(8)]
    runner = Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=DataLoader(data, batch_size=2,
                                    collate_fn=lambda b: dict(
                                        inputs=[x['inputs'] for x in b])),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=2, by_epoch=False)),
        custom_hooks=[dict(type='LatentAugScheduleHook', total_iters=4)],
        default_scope='mmpretrain',
        resume=resume,
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING')
    runner.train()
    return runner.model


def test_real_runner_schedule_continues_after_resume(tmp_path):
    first = _run(tmp_path, max_iters=2)
    assert first.seen_lambdas == pytest.approx([0.0, 0.25])
    resumed = _run(tmp_path, max_iters=4, resume=True)
    assert resumed.seen_lambdas == pytest.approx([0.5, 0.75])
    # and the covariance estimator was restored from the checkpoint
    assert resumed.neck.aug_loss.estimator.count.tolist() == [8, 8]


# ------------------------------------------------- a child config loses it
@pytest.mark.parametrize('where', ['child config', 'cfg-options'])
def test_run_without_the_schedule_is_refused(where, tmp_path, capsys):
    """``custom_hooks`` of a child config (or of ``--cfg-options``) replaces
    the base config's list and with it the λ schedule: refused before the
    first iteration, naming the key and the fix."""
    from fixtures.tool_runs import (TINY_CONFIG, last_line, run_in_process,
                                    write_config)
    if where == 'child config':
        config = write_config(tmp_path / 'child.py',
                              "custom_hooks = [dict(type='EMAHook')]\n")
        options = []
    else:
        config = TINY_CONFIG
        options = ['--cfg-options', 'custom_hooks=[]']
    work = tmp_path / 'work'
    assert run_in_process('train', config, '--work-dir', work, *options) == 2
    line = last_line(capsys.readouterr().err)
    assert line.startswith('error: model.neck.aug_loss is a LatentISDALoss '
                           '(λ = λ0·t/T), but no LatentAugScheduleHook is '
                           'registered (hooks: '), line
    assert ('EMAHook' in line) == (where == 'child config')
    assert 'so λ would stay 0' in line
    assert "add dict(type='LatentAugScheduleHook') to custom_hooks" in line
    assert not list(work.glob('*.pth'))
