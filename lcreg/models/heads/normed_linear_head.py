"""Normalised (cosine) linear classification head, as LDAM-DRW's
``NormedLinear`` (Cao et al., NeurIPS 2019, Sec. 4 and their code).

Logits are scaled cosine similarities between the feature and every class
weight::

    logits_j = s · <x / ||x||, w_j / ||w_j||>,   no bias

with ``s`` = ``scale`` (30 in LDAM-DRW). The layer is MMPretrain's
``NormProduct`` (feature and weight normalised). Each class weight starts
as a uniformly random direction of unit norm (LDAM-DRW's initialisation:
U(−1, 1), then every class vector rescaled to norm 1). A loss with
``set_logit_scale`` (:class:`lcreg.models.losses.LDAMLoss`) is told ``s``,
which is how a margin loss knows that the head is normalised.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.models.heads.margin_head import NormProduct
from mmpretrain.registry import MODELS


@MODELS.register_module()
class NormedLinearClsHead(LinearClsHead):
    """Scaled-cosine classifier (module docstring).

    Args:
        num_classes (int): number of classes C.
        in_channels (int): feature dimension D.
        scale (float): s > 0. Defaults to 30.0 (LDAM-DRW).
        **kwargs: the arguments of ``LinearClsHead`` (loss, topk, cal_acc).
            ``init_cfg`` defaults to None: the unit-norm random init above.

    Shapes: features ``(B, D)`` (last element of the input tuple), logits
    ``(B, C)`` in ``[−s, s]``.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 scale: float = 30.0, init_cfg=None, **kwargs) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         init_cfg=init_cfg, **kwargs)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                or not scale > 0:
            raise ValueError(f'NormedLinearClsHead: scale={scale!r} must be '
                             '> 0 (LDAM-DRW: 30).')
        self.scale = float(scale)
        self.fc = NormProduct(in_channels, num_classes, bias=False,
                              feature_norm=True, weight_norm=True)
        with torch.no_grad():
            self.fc.weight.uniform_(-1.0, 1.0)
            self.fc.weight.copy_(F.normalize(self.fc.weight, dim=1))
        if hasattr(self.loss_module, 'set_logit_scale'):
            self.loss_module.set_logit_scale(self.scale)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``s · cos``, (B, C)."""
        return self.scale * self.fc(self.pre_logits(feats))
