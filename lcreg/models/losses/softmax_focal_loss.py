"""Softmax focal loss (Lin et al., "Focal Loss for Dense Object Detection",
ICCV 2017, eq. 5, on the softmax probabilities), optionally class-balanced
(Cui et al., CVPR 2019: weights ``w_j`` from the effective number).

For a sample with label y and softmax probabilities p::

    L = −w_y · (1 − p_y)^γ · log p_y

γ = 0 is (weighted) cross-entropy. This is the multi-class focal loss of
the LDAM-DRW code's focal baseline (γ = 1 there), not MMPretrain's
``FocalLoss``, which is the sigmoid (one-vs-rest) form with a scalar α and
no per-class weights. Class weights come from ``class_weight`` (set once by
``DeferredReweightingHook(start_epoch=0)`` for the class-balanced loss, or
at the DRW epoch); the mean is the class-weighted one of
:mod:`.class_balanced` (``Σ_b w_{y_b} L_b / Σ_b w_{y_b}``). Soft scores:
``L = −Σ_j w_j y_j (1 − p_j)^γ log p_j``.

:class:`ClassWeightedCrossEntropyLoss` is the γ = 0 case under its own
name: the class-weighted (soft) cross-entropy of the Remix-DRW recipe, with
the same weighted mean as LDAM-DRW's losses.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .class_balanced import ClassWeightedLoss


@MODELS.register_module()
class SoftmaxFocalLoss(ClassWeightedLoss):
    """Multi-class focal loss (module docstring).

    Args:
        gamma (float): focusing parameter γ >= 0. Defaults to 1.0 (the
            LDAM-DRW code's focal baseline).
        class_weight, reduction, loss_weight: see ``ClassWeightedLoss``.

    Shapes: ``cls_score`` (B, C); ``label`` (B,) or soft (B, C).
    """

    def __init__(self,
                 gamma: float = 1.0,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(class_weight=class_weight, reduction=reduction,
                         loss_weight=loss_weight)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) \
                or not gamma >= 0:
            raise ValueError(f'SoftmaxFocalLoss: gamma={gamma!r} must be '
                             '>= 0 (0: cross-entropy).')
        self.gamma = float(gamma)

    def extra_repr(self) -> str:
        return f'gamma={self.gamma}'

    def per_class_loss(self, cls_score: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
        """``−(1 − p_j)^γ log p_j``, (B, C)."""
        log_p = F.log_softmax(cls_score, dim=1)
        if self.gamma == 0:
            return -log_p
        return -(1.0 - log_p.exp()).pow(self.gamma) * log_p


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(SoftmaxFocalLoss):
    """Cross-entropy ``−Σ_j w_j y_j log p_j`` with the class-weighted mean
    ``/ Σ_b Σ_j w_j y_bj`` (γ = 0 of :class:`SoftmaxFocalLoss`); hard
    labels (B,) or soft scores (B, C) (Mixup, Remix).

    Args:
        class_weight, reduction, loss_weight: see ``ClassWeightedLoss``.
    """

    def __init__(self,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(gamma=0.0, class_weight=class_weight,
                         reduction=reduction, loss_weight=loss_weight)

    def extra_repr(self) -> str:
        return ''
