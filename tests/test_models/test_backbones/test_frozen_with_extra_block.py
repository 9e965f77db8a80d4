"""FrozenBackboneWithExtraBlock: frozen pretrained backbone + trainable block
(the Places-LT recipe), alone and inside a real two-stage MMEngine run."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS
from torchvision.ops import FrozenBatchNorm2d

import lcreg  # noqa: F401  (registration)
from lcreg.models.backbones.frozen_with_extra_block import (
    FrozenBackboneWithExtraBlock, freeze_batch_norms, remove_last_block)

# A small ResNet-18 (stem and base width 8): last stage has 64 channels.
SMALL_RESNET = dict(type='ResNet', depth=18, stem_channels=8,
                    base_channels=8, out_indices=(3, ))


def _randomise_bn(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen)
            m.running_mean = torch.randn(n, generator=gen)
            m.running_var = torch.rand(n, generator=gen) + 0.5


def _wrapper(**kwargs):
    return FrozenBackboneWithExtraBlock(backbone=dict(SMALL_RESNET),
                                        in_channels=64, **kwargs)


def test_freeze_batch_norms_keeps_the_eval_function():
    bn = nn.BatchNorm2d(3, eps=1e-3)
    _randomise_bn(bn)
    seq = nn.Sequential(nn.Conv2d(2, 3, 1), nn.Sequential(copy.deepcopy(bn)))
    expected_conv = copy.deepcopy(seq[0])
    frozen = freeze_batch_norms(seq)
    assert isinstance(frozen[1][0], FrozenBatchNorm2d)
    x = torch.randn(4, 3, 5, 5)
    bn.eval()
    # eval BN: (x - mean) / sqrt(var + eps) * w + b, by hand
    by_hand = (x - bn.running_mean[:, None, None]) / torch.sqrt(
        bn.running_var[:, None, None] + 1e-3) * bn.weight[:, None, None] + \
        bn.bias[:, None, None]
    torch.testing.assert_close(frozen[1][0](x), by_hand.detach())
    torch.testing.assert_close(bn(x).detach(), by_hand.detach())
    assert torch.equal(frozen[0].weight, expected_conv.weight)


def test_freeze_batch_norms_refuses_what_it_cannot_freeze():
    with pytest.raises(ValueError, match=r'0\.1 .*BatchNorm1d'):
        freeze_batch_norms(nn.Sequential(nn.Sequential(
            nn.Linear(2, 2), nn.BatchNorm1d(2))))
    with pytest.raises(ValueError, match='track_running_stats'):
        freeze_batch_norms(nn.Sequential(
            nn.BatchNorm2d(2, track_running_stats=False)))


def _reference_resnet(seed, replace_last_block):
    """The small ResNet with random BN statistics; with
    ``replace_last_block`` its last block (layer4.1) is cut off by
    slicing, independently of the code under test."""
    reference = ResNet(**{k: v for k, v in SMALL_RESNET.items()
                          if k != 'type'})
    _randomise_bn(reference, seed=seed)
    if replace_last_block:
        reference.layer4 = nn.Sequential(reference.layer4[0])
    return reference


@pytest.mark.parametrize('replace_last_block', [True, False])
def test_output_is_the_extra_block_on_the_frozen_backbone(replace_last_block):
    """True (the recipe): the new block takes the place of the backbone's
    last block; False: it follows the whole backbone."""
    torch.manual_seed(0)
    model = MODELS.build(dict(type='FrozenBackboneWithExtraBlock',
                              backbone=dict(SMALL_RESNET), in_channels=64,
                              replace_last_block=replace_last_block))
    assert len(model.backbone.layer4) == (1 if replace_last_block else 2)
    reference = _reference_resnet(1, replace_last_block)
    model.backbone.load_state_dict(reference.state_dict())
    reference.eval()
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].shape == (2, 64, 2, 2)
    expected = model.extra_block(reference(x)[-1])
    torch.testing.assert_close(out[0], expected)
    # width of the extra Bottleneck: in_channels / expansion
    assert model.extra_block.conv1.out_channels == 16


def test_only_the_extra_block_is_trainable():
    model = _wrapper()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f'extra_block.{n}'
                         for n, _ in model.extra_block.named_parameters()}
    assert trainable  # the block has conv and BN parameters
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in model.backbone.modules())
    # stem 1 + 7 blocks · 2 (layer4.1 replaced by the new block) +
    # 3 downsamples
    assert sum(isinstance(m, FrozenBatchNorm2d)
               for m in model.backbone.modules()) == 18

    # train mode: the block trains, the backbone stays in eval and its
    # statistics never move; no gradient reaches it
    model.train()
    assert model.extra_block.training and not model.backbone.training
    frozen_before = copy.deepcopy(model.backbone.state_dict())
    block_mean = model.extra_block.bn1.running_mean.clone()
    out = model(torch.randn(4, 3, 64, 64))[0]
    out.sum().backward()
    assert all(torch.equal(v, model.backbone.state_dict()[k])
               for k, v in frozen_before.items())
    assert not torch.equal(block_mean, model.extra_block.bn1.running_mean)
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.extra_block.conv1.weight.grad is not None


@pytest.mark.parametrize('replace_last_block', [True, False])
def test_pretrained_weights_load_into_the_frozen_backbone(tmp_path,
                                                          replace_last_block):
    """Every pretrained weight loads into its place, except those of the
    replaced last block (layer4.1 here, layer4.2 of a ResNet-152), which
    load into nothing."""
    source = _reference_resnet(2, replace_last_block=False)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(3, 64)  # dropped by the prefix
    ckpt = tmp_path / 'pretrained.pth'
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    backbone = dict(SMALL_RESNET, frozen_stages=4, norm_eval=True,
                    init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                  prefix='backbone'))
    model = FrozenBackboneWithExtraBlock(
        backbone=backbone, in_channels=64,
        replace_last_block=replace_last_block)
    model.init_weights()
    loaded = model.backbone.state_dict()
    everything = list(model.state_dict().values())
    for key, value in source.state_dict().items():
        if key.endswith('num_batches_tracked'):
            assert key not in loaded
        elif replace_last_block and key.startswith('layer4.1.'):
            assert key not in loaded
            assert not any(v.shape == value.shape and torch.equal(v, value)
                           for v in everything), key
        else:
            assert torch.equal(loaded[key], value), key
    assert all(not p.requires_grad for p in model.backbone.parameters())


def test_bad_arguments():
    with pytest.raises(TypeError, match='config dict'):
        FrozenBackboneWithExtraBlock(backbone=ResNet(depth=18))
    with pytest.raises(ValueError, match='multiple of expansion'):
        FrozenBackboneWithExtraBlock(backbone=dict(SMALL_RESNET),
                                     in_channels=66, expansion=4)
    model = FrozenBackboneWithExtraBlock(backbone=dict(SMALL_RESNET),
                                         in_channels=128)
    with pytest.raises(ValueError, match=r'B×128×H×W; set in_channels'):
        model(torch.randn(1, 3, 32, 32))
    # replacing the last block needs a ResNet-like backbone with >= 2 blocks
    # in its last stage
    with pytest.raises(ValueError, match='res_layers.*replace_last_block'
                       '=False'):
        FrozenBackboneWithExtraBlock(
            backbone=dict(type='VGG', depth=11), in_channels=512)
    one_block_left = remove_last_block(_reference_resnet(0, False))
    with pytest.raises(ValueError, match=r'at least 2 blocks in layer4, '
                       r'which has 1; set replace_last_block=False'):
        remove_last_block(one_block_left)


# ------------------------------------------------- real two-stage training
class _Snapshots(Hook):
    """State dicts before training and after every epoch."""

    def __init__(self):
        self.states = {}

    def _take(self, runner, key):
        self.states[key] = {k: v.detach().clone()
                            for k, v in runner.model.state_dict().items()}

    def before_train(self, runner):
        self._take(runner, 'start')

    def after_train_epoch(self, runner):
        self._take(runner, runner.epoch)


def _changed(before, after, prefix, suffixes=None):
    keys = [k for k in before if k.startswith(prefix) and (
        suffixes is None or k.endswith(suffixes))]
    assert keys, prefix
    return {k for k in keys if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize('shift_bn', [True, False])
def test_two_stage_run_freezes_backbone_and_block_in_stage2(tmp_path,
                                                            shift_bn):
    """Stage 1 trains the extra block, never the frozen backbone; stage 2
    trains only the classifier, and re-estimates the extra block's BN
    statistics (only those) when shift_bn is on (MiSLAS' Places-LT)."""
    snapshots = _Snapshots()
    model = dict(
        type='ImageClassifier',
        data_preprocessor=dict(num_classes=10, mean=[76.0] * 3,
                               std=[97.0] * 3, to_rgb=False),
        backbone=dict(type='FrozenBackboneWithExtraBlock',
                      backbone=dict(SMALL_RESNET), in_channels=64),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='ScaledLinearClsHead', num_classes=10, in_channels=64,
                  loss=dict(type='CrossEntropyLoss')))
    dataset = dict(
        type='LongTailed',
        dataset=dict(type='SklearnDigits', split='train', scale=8,
                     pipeline=[dict(type='PackInputs')]),
        imbalance_factor=4, max_per_class=6, seed=0)
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(
            batch_size=12, num_workers=0, dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(type='TwoStageTrainLoop', max_epochs=2,
                       stage1_epochs=1,
                       stage2=dict(lr=0.1, lr_factor=1.0, shift_bn=shift_bn,
                                   sampler=dict(type='ClassAwareSampler',
                                                num_samples_cls=2))),
        optim_wrapper=dict(constructor='StageOptimWrapperConstructor',
                           optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        custom_hooks=[snapshots],
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook',
                                                        interval=100)),
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        log_level='WARNING')
    runner.train()
    start, stage1, stage2 = (snapshots.states[k] for k in ('start', 0, 1))

    frozen = 'backbone.backbone.'
    assert not _changed(start, stage1, frozen)
    assert not _changed(stage1, stage2, frozen)

    block, weights = 'backbone.extra_block.', ('weight', 'bias')
    block_stats = ('running_mean', 'running_var')
    block_params = {k for k in start if k.startswith(block)
                    and k.endswith(weights)}
    assert _changed(start, stage1, block, weights) == block_params
    assert not _changed(stage1, stage2, block, weights)
    assert _changed(start, stage1, block, block_stats)
    assert bool(_changed(stage1, stage2, block, block_stats)) == shift_bn

    assert _changed(stage1, stage2, 'head.', ('fc.weight', 'scale'))
