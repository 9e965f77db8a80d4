"""Class-balanced weights and the class-weighted reduction of a loss.

Class-balanced weights (Cui et al., "Class-Balanced Loss Based on Effective
Number of Samples", CVPR 2019, eq. 2 and Sec. 4), from the training counts
``n_j`` of the C classes::

    E_j = (1 − β^{n_j}) / (1 − β)        (effective number of samples)
    w_j = C · E_j^{-1} / Σ_k E_k^{-1}    (normalised: Σ_j w_j = C)

``β = 0`` gives ``w_j = 1`` for every class (no re-weighting); β → 1 gives
weights ∝ 1 / n_j. LDAM-DRW's deferred re-weighting uses β = 0.9999.

Class-weighted mean (:func:`class_weighted_reduce`), the convention of all
the toolbox's re-balancing losses: with per-class loss terms ``ℓ[b, j]``,
target distribution ``y[b, j]`` (one-hot for hard labels) and class
weights ``w_j``::

    L_b  = Σ_j w_j · y[b, j] · ℓ[b, j]
    mean = Σ_b L_b / Σ_b Σ_j w_j · y[b, j]

For hard labels that is ``Σ_b w_{y_b} ℓ_b / Σ_b w_{y_b}``, the weighted mean
of PyTorch's ``F.cross_entropy(weight=w)``, which the official LDAM-DRW
code uses for LDAM and CE with DRW. Without weights it is the plain mean
over the batch. (MMPretrain's ``CrossEntropyLoss(class_weight=...)``
divides by the batch size B instead.)
"""
from typing import Optional, Sequence

import torch

from .class_counts import check_class_counts

REDUCTIONS = ('mean', 'sum', 'none')


def check_beta(beta: float, where: str) -> float:
    """β of the effective number must lie in [0, 1)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
            or not 0.0 <= beta < 1.0:
        raise ValueError(
            f'{where}: beta={beta!r} must lie in [0, 1) (0: no re-weighting; '
            'Cui et al. and LDAM-DRW use 0.9999).')
    return float(beta)


def class_balanced_weights(class_counts: Sequence[int],
                           beta: float,
                           where: str = 'class_balanced_weights'
                           ) -> torch.Tensor:
    """Class-balanced weights ``w_j`` (module docstring), float32, (C,).

    Args:
        class_counts (Sequence[int]): training samples per class (all > 0).
        beta (float): β ∈ [0, 1).
        where (str): module name for error messages.
    """
    counts = check_class_counts(class_counts, where)
    beta = check_beta(beta, where)
    n = torch.tensor(counts, dtype=torch.float64)
    inverse_effective = (1.0 - beta) / (1.0 - torch.pow(beta, n))
    weights = inverse_effective / inverse_effective.sum() * len(counts)
    return weights.float()


def target_distribution(label: torch.Tensor, num_classes: int,
                        where: str) -> torch.Tensor:
    """(B, C) float target: one-hot of hard labels (B,) or soft scores as
    given (Mixup / Remix)."""
    if label.dim() == 1 and not label.is_floating_point():
        if label.numel() and (label.min() < 0 or label.max() >= num_classes):
            raise ValueError(f'{where}: labels must lie in [0, '
                             f'{num_classes}), got {label.tolist()}.')
        return torch.nn.functional.one_hot(label.long(), num_classes).float()
    if label.dim() == 2 and label.size(1) == num_classes:
        return label.float()
    raise ValueError(
        f'{where}: label has shape {tuple(label.shape)} ({label.dtype}); '
        f'expected hard labels (B,) or soft scores (B, {num_classes}).')


def class_weighted_reduce(per_class_loss: torch.Tensor,
                          target: torch.Tensor,
                          class_weight: Optional[torch.Tensor],
                          reduction: str) -> torch.Tensor:
    """Reduce ``ℓ[b, j]`` with targets and class weights (module doc).

    Args:
        per_class_loss (Tensor): ℓ, (B, C).
        target (Tensor): y, (B, C), rows summing to 1.
        class_weight (Tensor | None): w, (C,).
        reduction (str): 'mean', 'sum' or 'none' ((B,) of ``L_b``).

    Returns:
        Tensor: scalar, or (B,) with reduction 'none'.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction={reduction!r} must be one of '
                         f'{REDUCTIONS}.')
    weighted_target = target if class_weight is None else \
        target * class_weight.to(target)[None, :]
    per_sample = (weighted_target * per_class_loss).sum(dim=1)
    if reduction == 'none':
        return per_sample
    if reduction == 'sum':
        return per_sample.sum()
    return per_sample.sum() / weighted_target.sum()


def class_weight_tensor(class_weight: Optional[Sequence[float]],
                        num_classes: int, where: str,
                        like: torch.Tensor) -> Optional[torch.Tensor]:
    """``class_weight`` (list or tensor, set by DeferredReweightingHook) as
    a tensor of ``like``'s device and dtype, length-checked; None stays."""
    if class_weight is None:
        return None
    weight = torch.as_tensor(class_weight, dtype=like.dtype,
                             device=like.device)
    if weight.shape != (num_classes, ):
        raise ValueError(f'{where}: class_weight has shape '
                         f'{tuple(weight.shape)}, expected ({num_classes},).')
    return weight


class ClassWeightedLoss(torch.nn.Module):
    """Base of the re-balancing losses: per-class terms, class weights and
    the class-weighted mean of the module docstring.

    A subclass implements ``per_class_loss(cls_score, target) -> ℓ (B, C)``
    (``target`` the (B, C) distribution of :func:`target_distribution`).

    Args:
        class_weight (Sequence[float], optional): ``w`` (C,); None: all 1.
            :class:`lcreg.engine.hooks.DeferredReweightingHook` sets it
            during training (DRW).
        reduction (str): 'mean' (class-weighted mean), 'sum' or 'none'.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'{type(self).__name__}: reduction='
                             f'{reduction!r} must be one of {REDUCTIONS}.')
        self.class_weight = class_weight
        self.reduction = reduction
        self.loss_weight = float(loss_weight)

    def per_class_loss(self, cls_score: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Loss of a batch.

        Args:
            cls_score (Tensor): logits, (B, C).
            label (Tensor): hard labels (B,) or soft scores (B, C).
            weight (Tensor, optional): per-sample weights (B,), multiplied
                into ``L_b`` (the divisor stays the class-weight sum).
            avg_factor (float, optional): not used. MMPretrain's
                ``ClsHead`` always passes the batch size B; the 'mean' here
                is the class-weighted mean of the module docstring, whose
                divisor is B only without class weights.
            reduction_override (str, optional): replaces ``reduction``.

        Returns:
            Tensor: scalar, or (B,) with reduction 'none'.
        """
        where = type(self).__name__
        if cls_score.dim() != 2:
            raise ValueError(f'{where}: cls_score must be (B, C), got '
                             f'{tuple(cls_score.shape)}.')
        num_classes = cls_score.size(1)
        target = target_distribution(label, num_classes, where)
        if target.size(0) != cls_score.size(0):
            raise ValueError(f'{where}: {target.size(0)} labels for '
                             f'{cls_score.size(0)} score rows.')
        with torch.autocast(device_type=cls_score.device.type,
                            enabled=False):
            scores = cls_score.float()
            per_class = self.per_class_loss(scores, target)
            if weight is not None:
                per_class = per_class * weight.float().reshape(-1, 1)
            loss = class_weighted_reduce(
                per_class, target,
                class_weight_tensor(self.class_weight, num_classes, where,
                                    scores),
                reduction_override or self.reduction)
        return self.loss_weight * loss
