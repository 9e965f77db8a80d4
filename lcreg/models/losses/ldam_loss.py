"""Label-distribution-aware margin loss (Cao et al., "Learning Imbalanced
Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, eq. 12–13).

Class j gets a margin that shrinks with its training count ``n_j``::

    m_j = C / n_j^{1/4},  C chosen so that max_j m_j = max_m         (eq. 12)

and the loss of a sample with label y and cosine logits
``c_j = <x/|x|, w_j/|w_j|>`` of a normalised linear head is the
cross-entropy of the scaled logits with the margin taken off the true
class::

    L = −log( e^{s(c_y − m_y)} / (e^{s(c_y − m_y)} + Σ_{j≠y} e^{s c_j}) )
                                                                    (eq. 13)

The scale ``s`` (30 in the paper's code) lives in the head
(:class:`lcreg.models.heads.NormedLinearClsHead`, ``scale``): the head
outputs ``s·c`` and tells the loss its ``s`` (``set_logit_scale``), so the
margin subtracted from the logits is ``s·m_y``. A head that does not
(e.g. a plain ``LinearClsHead``, whose logits are not cosines) is refused at
the first forward. With class weights (deferred re-weighting,
:class:`lcreg.engine.hooks.DeferredReweightingHook`) the mean is
``Σ_b w_{y_b} L_b / Σ_b w_{y_b}``, as ``F.cross_entropy(weight=w)`` in the
official code (see :mod:`.class_balanced`).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .class_balanced import ClassWeightedLoss
from .class_counts import ClassCountsMixin


def ldam_margins(class_counts: Sequence[int], max_m: float) -> torch.Tensor:
    """``m_j ∝ n_j^{-1/4}`` rescaled so that the largest is ``max_m``
    (eq. 12), float32, (C,)."""
    n = torch.tensor(list(class_counts), dtype=torch.float64)
    margins = n.pow(-0.25)
    return (margins * (max_m / margins.max())).float()


@MODELS.register_module()
class LDAMLoss(ClassCountsMixin, ClassWeightedLoss):
    """LDAM loss (module docstring) for a normalised head.

    Args:
        max_m (float): the largest margin (that of the rarest class), > 0.
            Defaults to 0.5 (paper's code).
        class_counts (Sequence[int], optional): training counts (C,);
            None: set before the run by ``ClassCountsHook``.
        class_weight (Sequence[float], optional): class weights (C,), set
            by ``DeferredReweightingHook`` (DRW).
        reduction (str): 'mean', 'sum' or 'none'.
        loss_weight (float): multiplier of the loss.

    Shapes: ``cls_score`` (B, C) = ``s·cos``, ``label`` (B,) hard labels.
    """

    def __init__(self,
                 max_m: float = 0.5,
                 class_counts: Optional[Sequence[int]] = None,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(class_weight=class_weight, reduction=reduction,
                         loss_weight=loss_weight)
        if isinstance(max_m, bool) or not isinstance(max_m, (int, float)) \
                or not max_m > 0:
            raise ValueError(f'LDAMLoss: max_m={max_m!r} must be > 0 (the '
                             'margin of the rarest class; paper: 0.5).')
        self.max_m = float(max_m)
        #: s of the head's logits s·cos; set by NormedLinearClsHead
        self.logit_scale = None
        self._init_class_counts(class_counts)

    def _on_class_counts(self, counts: List[int]) -> None:
        # not persistent: derived from the data, not learned
        self.register_buffer('margins', ldam_margins(counts, self.max_m),
                             persistent=False)

    def set_logit_scale(self, scale: float) -> None:
        """Called by a normalised head: its logits are ``scale · cos``."""
        if not scale > 0:
            raise ValueError(f'LDAMLoss: logit scale must be > 0, got '
                             f'{scale!r}.')
        self.logit_scale = float(scale)

    def extra_repr(self) -> str:
        return f'max_m={self.max_m}, logit_scale={self.logit_scale}'

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                *args, **kwargs) -> torch.Tensor:
        if self.logit_scale is None:
            raise ValueError(
                'LDAMLoss needs the cosine logits of a normalised head: set '
                "model.head.type='NormedLinearClsHead' (scale=30, no bias; "
                'its logits are s·cos and it gives the loss its s). This '
                'head did not, so its logits are not cosines and the margins '
                'would be meaningless.')
        if label.dim() != 1 or label.is_floating_point():
            raise ValueError(
                'LDAMLoss needs hard integer labels (B,), got '
                f'{label.dtype} of shape {tuple(label.shape)}: the margin '
                'belongs to one true class. Soft scores come from batch '
                'augmentation (Mixup / Remix): remove model.train_cfg.'
                'augments for LDAM.')
        self.require_class_counts(cls_score.size(-1))
        return super().forward(cls_score, label, *args, **kwargs)

    def per_class_loss(self, cls_score: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
        """``−log softmax(s·c − s·m_y·onehot(y))``, (B, C) (eq. 13)."""
        margin = self.logit_scale * self.margins.to(cls_score)[None, :]
        return -F.log_softmax(cls_score - target * margin, dim=1)
