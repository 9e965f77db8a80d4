"""A frozen pretrained backbone whose last block is a new, trainable one.

The Places-LT recipe of OLTR, decoupling and MiSLAS: the ImageNet-pretrained
ResNet-152 is not fine-tuned. MiSLAS (``models/resnet_places.py``,
``resnet152_fe``) builds the trunk with stages [3, 8, 36, 2], i.e. it
**deletes** the last pretrained Bottleneck (``layer4.2``, its weights are
dropped from the checkpoint), and trains one freshly initialised Bottleneck
(2048 → 2048, width 512) in its place. This block, the neck and the
classifier are all that stage 1 trains.

``replace_last_block=True`` (the default, the recipe) does the same: the
wrapped backbone's last block is removed before the pretrained weights are
loaded, so its weights load into nothing (``init_cfg``'s ``Pretrained``
loads non-strictly and reports them as unexpected keys).
``replace_last_block=False`` keeps the whole pretrained backbone and stacks
the new block on top of it (ResNet-152 [3, 8, 36, 3] + 1 block).

"Frozen" is enforced here, whatever the wrapped backbone's own settings:

* its parameters have ``requires_grad=False`` (the optimizer skips them: they
  never get a gradient);
* its BatchNorm layers become :class:`torchvision.ops.FrozenBatchNorm2d`
  (fixed affine and running statistics, *not* a ``_BatchNorm``), so neither
  ``model.train()`` nor the stage-2 shift-BN of ``TwoStageTrainLoop`` (which
  switches every ``_BatchNorm`` of the representation to train mode) can
  change its statistics;
* it always runs in eval mode and under ``torch.no_grad()``.

Stage 2 (``TwoStageTrainLoop``): the extra block is part of the
representation, so the loop freezes it with the neck. With ``shift_bn=True``
its BatchNorm layers (the only ``_BatchNorm`` left in this backbone)
re-estimate their statistics on the class-balanced batches. This is MiSLAS'
Places-LT stage 2: block and backbone under ``no_grad``, ``block.train()``
when shift-BN is on, the ResNet-152 in eval mode, only the classifier and the
weight scaling in the optimizer.

Pretrained weights go through the wrapped backbone's ``init_cfg``
(``dict(type='Pretrained', checkpoint=..., prefix='backbone')``); the frozen
BatchNorm layers load the usual ``weight``/``bias``/``running_mean``/
``running_var`` keys (``num_batches_tracked`` is dropped).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.backbones.resnet import Bottleneck
from mmpretrain.registry import MODELS
from torchvision.ops import FrozenBatchNorm2d


def freeze_batch_norms(module: nn.Module, prefix: str = '') -> nn.Module:
    """Replace every ``BatchNorm2d`` / ``SyncBatchNorm`` below ``module``
    (in place) by a ``FrozenBatchNorm2d`` holding the same affine parameters
    and running statistics; returns ``module``.

    Raises:
        ValueError: a BatchNorm without running statistics
            (``track_running_stats=False``: there is nothing to freeze) or of
            another dimension (BatchNorm1d/3d), naming the layer.
    """
    for name, child in module.named_children():
        path = f'{prefix}{name}'
        if isinstance(child, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            if not child.track_running_stats:
                raise ValueError(
                    f'FrozenBackboneWithExtraBlock: {path} has no running '
                    'statistics (track_running_stats=False) and cannot be '
                    'frozen; use a backbone with ordinary BatchNorm layers.')
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            with torch.no_grad():
                if child.affine:
                    frozen.weight.copy_(child.weight)
                    frozen.bias.copy_(child.bias)
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        elif isinstance(child, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                f'FrozenBackboneWithExtraBlock: {path} is a '
                f'{type(child).__name__}; only 2-D BatchNorm layers can be '
                'frozen (the wrapped backbone must be a 2-D CNN).')
        else:
            freeze_batch_norms(child, prefix=f'{path}.')
    return module


def remove_last_block(backbone: nn.Module) -> nn.Module:
    """Delete (in place) the last block of ``backbone``'s last residual
    stage, e.g. ``layer4.2`` of a ResNet-152, which leaves stages
    [3, 8, 36, 2]; returns ``backbone``.

    Raises:
        ValueError: the backbone has no ``res_layers`` (not an MMPretrain
            ResNet-like backbone) or its last stage has a single block
            (removing it would change the output channels).
    """
    stage_names = getattr(backbone, 'res_layers', None)
    if not stage_names:
        raise ValueError(
            'FrozenBackboneWithExtraBlock: replace_last_block=True needs a '
            'backbone with res_layers (MMPretrain ResNet / ResNeXt), got '
            f'{type(backbone).__name__}; set replace_last_block=False to put '
            'the new block on top of it instead.')
    last_stage = getattr(backbone, stage_names[-1])
    if len(last_stage) < 2:
        raise ValueError(
            'FrozenBackboneWithExtraBlock: replace_last_block=True needs at '
            f'least 2 blocks in {stage_names[-1]}, which has '
            f'{len(last_stage)}; set replace_last_block=False.')
    del last_stage[len(last_stage) - 1]
    return backbone


@MODELS.register_module()
class FrozenBackboneWithExtraBlock(BaseModule):
    """Frozen pretrained backbone + one trainable Bottleneck (Places-LT).

    Args:
        backbone (dict): config of the pretrained backbone (e.g. MMPretrain's
            ``ResNet`` of depth 152 with a ``Pretrained`` ``init_cfg``). It is
            frozen entirely (see the module docstring).
        replace_last_block (bool): remove the last block of the backbone's
            last stage and let the new block take its place (MiSLAS:
            ResNet-152 [3, 8, 36, 2] + the new block). False: keep every
            pretrained block and put the new one on top. Needs a backbone
            with ``res_layers`` (MMPretrain's ``ResNet`` / ``ResNeXt``) whose
            last stage has at least 2 blocks. Defaults to True.
        in_channels (int): channels of the backbone's last output; the extra
            Bottleneck maps them to the same number. Defaults to 2048.
        expansion (int): Bottleneck expansion; the block's width is
            ``in_channels // expansion`` (512 for 2048). Defaults to 4.
        norm_cfg (dict): normalisation layer of the extra block.
            Defaults to ``dict(type='BN')``.
        init_cfg (dict | list | None): MMEngine initialisation of the
            wrapper (the extra block keeps PyTorch's default init, as in
            MiSLAS, unless this says otherwise).

    Shapes: input B×3×H×W; output ``(B×in_channels×h×w,)``, the extra block
    applied to the last feature map of the (shortened) backbone.
    """

    def __init__(self,
                 backbone: dict,
                 replace_last_block: bool = True,
                 in_channels: int = 2048,
                 expansion: int = 4,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(backbone, dict) or 'type' not in backbone:
            raise TypeError('FrozenBackboneWithExtraBlock: backbone must be '
                            "a config dict with a 'type', got "
                            f'{backbone!r}.')
        if int(in_channels) < 1 or int(expansion) < 1 or \
                in_channels % expansion:
            raise ValueError(
                'FrozenBackboneWithExtraBlock: in_channels must be a '
                f'positive multiple of expansion, got {in_channels} and '
                f'{expansion}.')
        self.in_channels = int(in_channels)
        self.replace_last_block = bool(replace_last_block)
        built = MODELS.build(backbone)
        if self.replace_last_block:
            remove_last_block(built)
        self.backbone = freeze_batch_norms(built)
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        self.extra_block = Bottleneck(
            self.in_channels, self.in_channels, expansion=int(expansion),
            norm_cfg=dict(norm_cfg or dict(type='BN')))

    def train(self, mode: bool = True) -> 'FrozenBackboneWithExtraBlock':
        """Set the extra block's mode; the frozen backbone stays in eval."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        with torch.no_grad():
            feats = self.backbone(x)
        feat = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(
                'FrozenBackboneWithExtraBlock: the backbone\'s last output '
                f'has shape {tuple(feat.shape)}, expected B×'
                f'{self.in_channels}×H×W; set in_channels to its channels.')
        return (self.extra_block(feat), )
