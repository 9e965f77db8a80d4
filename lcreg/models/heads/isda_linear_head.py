"""Linear head whose class loss may be class-wise ISDA.

:class:`ScaledLinearClsHead` (MiSLAS' head: per-class scale for stage 2)
whose ``loss`` hands the pooled feature and the classifier to
:class:`lcreg.models.losses.ClassISDALoss` when that is its loss: ISDA
needs the features and the weights, not only the logits. Any other loss
(e.g. label-aware smoothing after the stage-2 switch) runs the ordinary
``ClsHead`` path. Prediction is unchanged.

The effective classifier is ``s ⊙ (W a + b)``: the ISDA loss gets the rows
``s_j·w_j`` and biases ``s_j·b_j`` (s = 1 in stage 1).
"""
from typing import List, Tuple

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from lcreg.models.losses.class_isda_loss import ClassISDALoss

from .scaled_linear_head import ScaledLinearClsHead


@MODELS.register_module()
class ISDALinearClsHead(ScaledLinearClsHead):
    """``ScaledLinearClsHead`` with a class-wise ISDA loss.

    Args:
        num_classes (int): C.
        in_channels (int): D.
        loss (dict): the loss; ``type='ClassISDALoss'`` gets
            ``num_classes`` and ``in_channels`` from the head.
        **kwargs: the arguments of ``ScaledLinearClsHead``.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 loss: dict = dict(type='ClassISDALoss'), **kwargs) -> None:
        loss = dict(loss)
        if loss.get('type') in ('ClassISDALoss', ClassISDALoss):
            loss.setdefault('num_classes', num_classes)
            loss.setdefault('in_channels', in_channels)
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         loss=loss, **kwargs)

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample], **kwargs) -> dict:
        """``dict(loss=...)``; ISDA when the loss is ``ClassISDALoss``."""
        if not isinstance(self.loss_module, ClassISDALoss):
            return super().loss(feats, data_samples, **kwargs)
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score for s in data_samples])
        else:
            target = torch.cat([s.gt_label for s in data_samples])
        weight = self.scale[:, None] * self.fc.weight
        bias = None if self.fc.bias is None else self.scale * self.fc.bias
        return dict(loss=self.loss_module(self.pre_logits(feats), weight,
                                          bias, target))
