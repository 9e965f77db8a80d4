"""Balanced Softmax cross-entropy (Ren et al., "Balanced Meta-Softmax for
Long-Tailed Visual Recognition", NeurIPS 2020, eq. 4).

The softmax is taken over the logits shifted by the log of the training
counts::

    L = −log( n_y e^{f_y} / Σ_j n_j e^{f_j} ) = CE(f + log n, y)

(the official code adds ``log`` of the per-class sample counts to the
logits before the cross-entropy). Since ``log n_j = log π_j + log N`` and a
constant shift leaves the softmax unchanged, this is logit adjustment with
τ = 1 (:class:`LogitAdjustedLoss`); it is kept as its own recipe because
the two papers report it separately.
"""
from typing import List, Optional, Sequence

import torch
from mmpretrain.registry import MODELS

from .logit_adjusted_loss import LogitAdjustedLoss


@MODELS.register_module()
class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Cross-entropy on ``logits + log n`` (module docstring).

    Args:
        class_counts (Sequence[int], optional): training counts (C,);
            None: set before the run by ``ClassCountsHook``.
        class_weight, reduction, loss_weight: see ``ClassWeightedLoss``.

    Shapes: ``cls_score`` (B, C); ``label`` (B,) or soft (B, C).
    """

    def __init__(self,
                 class_counts: Optional[Sequence[int]] = None,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(tau=1.0, class_counts=class_counts,
                         class_weight=class_weight, reduction=reduction,
                         loss_weight=loss_weight)

    def _on_class_counts(self, counts: List[int]) -> None:
        log_counts = torch.log(torch.tensor(counts, dtype=torch.float64))
        self.register_buffer('adjustment', log_counts.float(),
                             persistent=False)

    def extra_repr(self) -> str:
        return ''
