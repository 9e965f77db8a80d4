"""The loss / re-weighting / Remix baselines: one config per method, data
set and imbalance factor, with the values of their sources."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim.scheduler import LinearLR, MultiStepLR

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs' / 'baselines'
# method: (head type, loss type, DRW start epoch or None, batch augment)
METHODS = {
    'ldam-drw': ('NormedLinearClsHead', 'LDAMLoss', 160, None),
    'balanced-softmax': ('LinearClsHead', 'BalancedSoftmaxLoss', None, None),
    'logit-adjust': ('LinearClsHead', 'LogitAdjustedLoss', None, None),
    'remix-drw': ('LinearClsHead', 'ClassWeightedCrossEntropyLoss', 160,
                  'Remix'),
    'focal': ('LinearClsHead', 'SoftmaxFocalLoss', None, None),
    'cb-focal': ('LinearClsHead', 'SoftmaxFocalLoss', 0, None),
}
CIFAR = [(m, c, f) for m in METHODS for c in (10, 100) for f in (100, 50, 10)]


@pytest.mark.parametrize('method, classes, factor', CIFAR)
def test_cifar_recipe(method, classes, factor):
    cfg = Config.fromfile(str(
        CONFIGS / f'resnet32_cifar{classes}-lt-if{factor}_{method}.py'))
    head_type, loss_type, drw, augment = METHODS[method]
    head = cfg.model.head
    assert (head.type, head.loss.type, head.num_classes) == (
        head_type, loss_type, classes)
    assert cfg.model.backbone == dict(type='CifarResNet', depth=32)
    dataset = cfg.train_dataloader.dataset
    assert (dataset.type, dataset.imbalance_factor) == (
        f'CIFAR{classes}LT', factor)
    assert cfg.val_evaluator.train_dataset == dataset
    assert cfg.data_preprocessor.num_classes == classes
    hooks = [h for h in cfg.get('custom_hooks', [])
             if h.type == 'DeferredReweightingHook']
    if drw is None:
        assert not hooks
    else:
        assert [(h.start_epoch, h.beta) for h in hooks] == [(drw, 0.9999)]
    augments = cfg.model.get('train_cfg', {}).get('augments')
    assert (augments or {}).get('type') == augment
    if augment:
        assert (augments.alpha, augments.kappa, augments.tau) == (1.0, 3.0,
                                                                  0.5)
    if method == 'ldam-drw':
        assert (head.scale, head.loss.max_m) == (30.0, 0.5)
    if method == 'logit-adjust':
        assert head.loss.tau == 1.0
    if method in ('focal', 'cb-focal'):
        assert head.loss.gamma == 1.0
    assert cfg.default_hooks.class_counts.type == 'ClassCountsHook'
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.train_cfg.max_epochs == 200


def test_ldam_schedule_is_the_official_one():
    """LDAM-DRW's adjust_learning_rate: lr·(e+1)/5 for epochs 0-4, lr until
    159, lr·0.01 for 160-179, lr·0.0001 from 180 (lr 0.1, wd 2e-4)."""
    cfg = Config.fromfile(str(
        CONFIGS / 'resnet32_cifar10-lt-if100_ldam-drw.py'))
    optimizer_cfg = cfg.optim_wrapper.optimizer
    assert (optimizer_cfg.type, optimizer_cfg.lr, optimizer_cfg.momentum,
            optimizer_cfg.weight_decay) == ('SGD', 0.1, 0.9, 2e-4)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                lr=0.1)
    types = {'LinearLR': LinearLR, 'MultiStepLR': MultiStepLR}
    schedulers = [types[s.pop('type')](optimizer, **s)
                  for s in [dict(s) for s in cfg.param_scheduler]]
    lrs = []
    for _ in range(200):
        lrs.append(optimizer.param_groups[0]['lr'])
        for sched in schedulers:
            sched.step()

    def official(epoch):
        epoch += 1
        if epoch <= 5:
            return 0.1 * epoch / 5
        if epoch > 180:
            return 0.1 * 0.0001
        if epoch > 160:
            return 0.1 * 0.01
        return 0.1

    assert lrs == pytest.approx([official(e) for e in range(200)],
                                rel=1e-9)


@pytest.mark.parametrize('method, loss', [
    ('balanced-softmax', 'BalancedSoftmaxLoss'),
    ('logit-adjust', 'LogitAdjustedLoss')])
def test_imagenet_lt_recipes(method, loss):
    cfg = Config.fromfile(str(CONFIGS / f'resnet50_imagenet-lt_{method}.py'))
    assert (cfg.model.head.loss.type, cfg.model.head.num_classes) == (loss,
                                                                      1000)
    assert cfg.train_cfg.max_epochs == 90
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [
        ('CosineAnnealingLR', 0, 90)]
