"""Logit-adjusted softmax cross-entropy (Menon et al., "Long-Tail Learning
via Logit Adjustment", ICLR 2021, eq. 10).

With the training class priors ``π_j = n_j / Σ_k n_k`` the loss of a sample
with label y and logits f(x) is::

    L = −log( e^{f_y + τ·log π_y} / Σ_j e^{f_j + τ·log π_j} )

i.e. cross-entropy on ``f + τ·log π`` during training; at test time the
plain logits f are used (they then estimate the balanced posterior).
``τ = 1`` is the paper's default; ``τ = 0`` is plain cross-entropy. The
post-hoc form, ``argmax_j f_j − τ·log π_j`` on any trained model, is
:class:`lcreg.engine.hooks.PosthocLogitAdjustHook` and
``tools/analysis/tau_norm_sweep.py --method logit-adjust``. Soft scores
(Mixup) are accepted: ``L = −Σ_j y_j log softmax(f + τ·log π)_j``.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .class_balanced import ClassWeightedLoss
from .class_counts import ClassCountsMixin


def check_tau(tau: float, where: str) -> float:
    """τ of a logit adjustment must be a number >= 0."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) \
            or not tau >= 0:
        raise ValueError(f'{where}: tau={tau!r} must be >= 0 (0: no '
                         'adjustment; the paper uses 1).')
    return float(tau)


def log_priors(class_counts: Sequence[int]) -> torch.Tensor:
    """``log π_j = log(n_j / Σ_k n_k)``, float32, (C,)."""
    n = torch.tensor(list(class_counts), dtype=torch.float64)
    return torch.log(n / n.sum()).float()


@MODELS.register_module()
class LogitAdjustedLoss(ClassCountsMixin, ClassWeightedLoss):
    """Cross-entropy on ``logits + τ·log π`` (module docstring).

    Args:
        tau (float): τ >= 0. Defaults to 1.0 (paper).
        class_counts (Sequence[int], optional): training counts (C,);
            None: set before the run by ``ClassCountsHook``.
        class_weight, reduction, loss_weight: see ``ClassWeightedLoss``.

    Shapes: ``cls_score`` (B, C); ``label`` (B,) or soft (B, C).
    """

    def __init__(self,
                 tau: float = 1.0,
                 class_counts: Optional[Sequence[int]] = None,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(class_weight=class_weight, reduction=reduction,
                         loss_weight=loss_weight)
        self.tau = check_tau(tau, type(self).__name__)
        self._init_class_counts(class_counts)

    def _on_class_counts(self, counts: List[int]) -> None:
        self.register_buffer('adjustment', self.tau * log_priors(counts),
                             persistent=False)

    def extra_repr(self) -> str:
        return f'tau={self.tau}'

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                *args, **kwargs) -> torch.Tensor:
        self.require_class_counts(cls_score.size(-1))
        return super().forward(cls_score, label, *args, **kwargs)

    def per_class_loss(self, cls_score: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
        """``−log softmax(f + τ·log π)``, (B, C)."""
        adjusted = cls_score + self.adjustment.to(cls_score)[None, :]
        return -F.log_softmax(adjusted, dim=1)
