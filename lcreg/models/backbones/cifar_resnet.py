"""CIFAR ResNet of the long-tailed literature (LDAM-DRW / MiSLAS ``resnet32``).

This is the small ResNet of He et al. (2016, Sec. 4.2) that LDAM-DRW, MiSLAS and LCReg
train on CIFAR-10/100-LT, not torchvision's ImageNet ResNet:

* stem: one 3x3 convolution to 16 channels + BN + ReLU (no max-pooling);
* three stages of ``n`` basic blocks with 16 / 32 / 64 channels, the first block of
  stages 2 and 3 halving the resolution (stride 2); ``depth = 6n + 2``;
* parameter-free "option A" shortcuts where the shape changes: stride-2 subsampling
  by slicing and zero-padding of the new channels;
* Kaiming-normal initialisation of the convolutions (fan-in, ReLU gain).

For a 32x32 input the last stage gives a ``B x 64 x 8 x 8`` map; no pooling is done
here (a neck, e.g. ``LatentCategoryNeck`` or ``GlobalAveragePooling``, follows).
Depth 32 has 463,504 parameters.
"""
import copy
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

STAGE_CHANNELS = (16, 32, 64)
# LDAM-DRW / MiSLAS initialise convolutions with ``kaiming_normal_`` (fan-in, gain sqrt(2)).
DEFAULT_INIT_CFG = (
    dict(type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='relu',
         distribution='normal'),
    dict(type='Constant', val=1, bias=0, layer='_BatchNorm'),
)


class ZeroPadShortcut(nn.Module):
    """Parameter-free "option A" shortcut.

    Subsamples the input spatially with a strided slice and zero-pads the channel
    dimension, half of the new channels in front and half behind (as LDAM-DRW does).

    Args:
        in_channels (int): C_in of the input.
        out_channels (int): C_out >= C_in of the output.
        stride (int): spatial subsampling step.

    Shapes:
        ``(B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f'ZeroPadShortcut cannot reduce channels ({in_channels} -> '
                f'{out_channels}); use out_channels >= in_channels.')
        self.stride = stride
        self.pad_front = (out_channels - in_channels) // 2
        self.pad_back = out_channels - in_channels - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))


class CifarBasicBlock(nn.Module):
    """Basic residual block: conv3x3-BN-ReLU-conv3x3-BN, + shortcut, ReLU.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        stride (int): stride of the first convolution.

    Shapes:
        ``(B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


@MODELS.register_module()
class CifarResNet(BaseBackbone):
    """CIFAR ResNet (depth 6n+2) with option-A shortcuts, e.g. ResNet-32.

    Args:
        depth (int): network depth, ``6n + 2`` (20, 32, 44, 56, 110, ...).
            Defaults to 32 (5 blocks per stage).
        in_channels (int): channels of the input image. Defaults to 3.
        out_indices (Sequence[int]): stages (0, 1, 2; negative allowed) whose
            outputs are returned. Defaults to ``(2,)``, the 64-channel map.
        frozen_stages (int): freeze the stem (``>= 0``) and stages ``1..k``
            (``k = frozen_stages``, stages counted from 1): parameters get
            ``requires_grad=False`` and their BN layers stay in eval mode.
            -1 (default) freezes nothing, 3 freezes the whole backbone.
        norm_eval (bool): keep every BN layer in eval mode during training
            (running statistics frozen). Defaults to False.
        init_cfg (dict | list[dict], optional): MMEngine initialisation config;
            by default Kaiming-normal (fan-in, ReLU gain) for convolutions and
            weight 1 / bias 0 for BN.

    Shapes:
        input ``(B, in_channels, H, W)``; output: tuple with one map per selected
        stage, stage ``i`` of shape ``(B, 16 * 2**i, H / 2**i, W / 2**i)``
        (``(B, 64, 8, 8)`` for stage 2 of a 32x32 input).
    """

    def __init__(self,
                 depth: int = 32,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (2,),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        if isinstance(init_cfg, tuple):
            init_cfg = copy.deepcopy(list(init_cfg))
        super().__init__(init_cfg=init_cfg)
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(
                f'CifarResNet: depth={depth!r} is not of the form 6n+2 with '
                'n >= 1; use e.g. depth=20, 32, 44, 56 or 110.')
        num_stages = len(STAGE_CHANNELS)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        normalised = []
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(
                    f'CifarResNet: out_indices={tuple(out_indices)} has {index}, '
                    f'but there are only {num_stages} stages (0..'
                    f'{num_stages - 1}).')
            normalised.append(index % num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'CifarResNet: frozen_stages={frozen_stages} must be in '
                f'[-1, {num_stages}].')
        self.depth = depth
        self.blocks_per_stage = (depth - 2) // 6
        self.out_indices = tuple(normalised)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.conv1 = nn.Conv2d(
            in_channels, STAGE_CHANNELS[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        channels = STAGE_CHANNELS[0]
        for i, stage_channels in enumerate(STAGE_CHANNELS):
            first_stride = 1 if i == 0 else 2
            blocks = []
            for j in range(self.blocks_per_stage):
                blocks.append(
                    CifarBasicBlock(channels, stage_channels,
                                    first_stride if j == 0 else 1))
                channels = stage_channels
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        """Put frozen modules in eval mode and stop their gradients."""
        frozen = []
        if self.frozen_stages >= 0:
            frozen += [self.conv1, self.bn1]
        frozen += [
            getattr(self, f'layer{i}')
            for i in range(1, self.frozen_stages + 1)
        ]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(B, C, H, W)`` image batch -> tuple of selected stage maps."""
        x = F.relu(self.bn1(self.conv1(x)))
        outs = []
        for i in range(len(STAGE_CHANNELS)):
            x = getattr(self, f'layer{i + 1}')(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True):
        """Switch mode, keeping frozen stages (and all BN if norm_eval) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
