"""Label-aware smoothing (Zhong et al., "Improving Calibration for Long-Tailed
Recognition", CVPR 2021 — MiSLAS, Sec. 3.2).

Class ``y`` is smoothed with a factor ``eps_y`` that grows with its number of
training samples ``N_y``. With ``x_y = (N_y - N_min) / (N_max - N_min)``:

    eps_y = eps_tail + (eps_head - eps_tail) * g(x_y),

    concave (default):  g(x) = sin(pi x / 2)
    linear:             g(x) = x
    convex:             g(x) = 1 - cos(pi x / 2)
    exp:                g(x) = x ** power

(these are the four shapes of the MiSLAS repository's ``LabelAwareSmoothing``).
The loss of a sample with hard label ``y`` and softmax probabilities ``p`` is

    (1 - eps_y) * (-log p_y) + eps_y * mean_j(-log p_j).
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS

from .class_counts import check_class_counts

SHAPES = ('concave', 'linear', 'convex', 'exp')


def label_aware_smoothing_factors(class_counts: Sequence[int],
                                  smooth_head: float,
                                  smooth_tail: float,
                                  shape: str = 'concave',
                                  power: Optional[float] = None
                                  ) -> torch.Tensor:
    """Per-class smoothing factors ``eps_y`` (see the module docstring).

    If all classes have the same count (``N_max == N_min``) every class is a
    head class: ``x_y = 1`` and ``eps_y = smooth_head`` for all ``y``.

    Args:
        class_counts (Sequence[int]): training samples per class (all > 0).
        smooth_head (float): ``eps`` of the most frequent class, in [0, 1].
        smooth_tail (float): ``eps`` of the least frequent class, in [0, 1].
        shape (str): 'concave', 'linear', 'convex' or 'exp'.
        power (float, optional): exponent of the 'exp' shape (required for
            it, not allowed for the others).

    Returns:
        Tensor: float32 factors, shape (C,).
    """
    where = 'LabelAwareSmoothingLoss'
    counts = check_class_counts(class_counts, where)
    for name, value in (('smooth_head', smooth_head),
                        ('smooth_tail', smooth_tail)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'{where}: {name}={value!r} must lie in [0, 1].')
    if shape not in SHAPES:
        raise ValueError(
            f'{where}: shape={shape!r} is not one of {SHAPES}.')
    if shape == 'exp' and power is None:
        raise ValueError(f"{where}: shape='exp' needs power= (eps grows as "
                         'x ** power).')
    if shape != 'exp' and power is not None:
        raise ValueError(f"{where}: power={power!r} is only used by "
                         f"shape='exp', not shape={shape!r}; remove it.")

    n = torch.tensor(counts, dtype=torch.float64)
    n_min, n_max = n.min(), n.max()
    if n_max == n_min:
        x = torch.ones_like(n)
    else:
        x = (n - n_min) / (n_max - n_min)
    if shape == 'concave':
        growth = torch.sin(math.pi * x / 2)
    elif shape == 'linear':
        growth = x
    elif shape == 'convex':
        growth = 1 - torch.cos(math.pi * x / 2)
    else:
        growth = x.pow(power)
    eps = smooth_tail + (smooth_head - smooth_tail) * growth
    return eps.float()


@MODELS.register_module()
class LabelAwareSmoothingLoss(nn.Module):
    """Label-aware smoothing cross-entropy, an MMPretrain head loss.

    Args:
        class_counts (Sequence[int]): training samples per class, index =
            label: the training set's ``metainfo['class_counts']``.
        smooth_head (float): ``eps`` of the most frequent class.
            Defaults to 0.3.
        smooth_tail (float): ``eps`` of the least frequent class.
            Defaults to 0.0.
        shape (str): 'concave' (default), 'linear', 'convex' or 'exp'.
        power (float, optional): exponent of the 'exp' shape.
        reduction (str): 'mean', 'sum' or 'none'. Defaults to 'mean'.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 class_counts: Optional[Sequence[int]] = None,
                 smooth_head: float = 0.3,
                 smooth_tail: float = 0.0,
                 shape: str = 'concave',
                 power: Optional[float] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f'LabelAwareSmoothingLoss: reduction='
                             f"{reduction!r} must be 'mean', 'sum' or 'none'.")
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.shape = shape
        # not persistent: derived from the arguments, and a stage-1
        # checkpoint (plain CE) must load without missing keys
        self.register_buffer(
            'smoothing',
            label_aware_smoothing_factors(class_counts, smooth_head,
                                          smooth_tail, shape, power),
            persistent=False)

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Loss of a batch.

        Args:
            cls_score (Tensor): logits, shape (B, C).
            label (Tensor): hard class ids, int, shape (B,).
            weight (Tensor, optional): per-sample weights, shape (B,).
            avg_factor (float, optional): divisor of the 'mean' reduction.
            reduction_override (str, optional): replaces ``reduction``.

        Returns:
            Tensor: scalar (or shape (B,) with reduction 'none').
        """
        num_classes = self.smoothing.numel()
        if cls_score.dim() != 2 or cls_score.size(1) != num_classes:
            raise ValueError(
                f'LabelAwareSmoothingLoss: cls_score has shape '
                f'{tuple(cls_score.shape)}, expected (B, {num_classes}) to '
                'match len(class_counts).')
        if label.dim() != 1 or label.is_floating_point():
            raise ValueError(
                'LabelAwareSmoothingLoss needs hard integer labels of shape '
                f'(B,), got {label.dtype} of shape {tuple(label.shape)}. Soft '
                'or one-hot targets come from batch augmentation (Mixup/'
                'CutMix): label-aware smoothing is the stage-2 loss, remove '
                'model.train_cfg.augments for that stage.')
        if label.numel() != cls_score.size(0):
            raise ValueError(
                f'LabelAwareSmoothingLoss: {label.numel()} labels for '
                f'{cls_score.size(0)} score rows.')
        reduction = reduction_override or self.reduction
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f'LabelAwareSmoothingLoss: reduction_override='
                             f"{reduction!r} must be 'mean', 'sum' or 'none'.")

        log_prob = F.log_softmax(cls_score, dim=1)
        nll = -log_prob.gather(1, label.long().unsqueeze(1)).squeeze(1)
        uniform = -log_prob.mean(dim=1)
        eps = self.smoothing.to(log_prob.dtype)[label.long()]
        loss = (1.0 - eps) * nll + eps * uniform
        if weight is not None:
            weight = weight.float()
        loss = weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
