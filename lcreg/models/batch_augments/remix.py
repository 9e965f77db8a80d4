"""Remix: rebalanced mixup (Chou et al., "Remix: Rebalanced Mixup", ECCV
Workshops 2020, Sec. 3, eq. 3–5).

Images are mixed as in Mixup, ``x̃ = λ·x_i + (1 − λ)·x_j`` with
``λ ~ Beta(α, α)`` (one λ per batch, j a random permutation of the
batch), but the label is pushed towards the minority class of the pair::

    ỹ = λ_y·y_i + (1 − λ_y)·y_j

    λ_y = 0   if n_i / n_j ≥ κ and λ < τ         (x_i's class is the
                                                   majority and x_i only a
                                                   small part of the image)
    λ_y = 1   if n_i / n_j ≤ 1/κ and 1 − λ < τ   (the mirror case)
    λ_y = λ   otherwise

with ``n_i`` the training count of the class of sample i. The paper uses
κ = 3 and τ = 0.5 (its Sec. 4). The class counts are set before the run by
:class:`lcreg.engine.hooks.ClassCountsHook`; the labels entering the
augment must be one-hot (each sample's class is the argmax of its score).
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmpretrain.registry import BATCH_AUGMENTS

from lcreg.models.losses.class_counts import ClassCountsMixin


def remix_label_weight(lam: float, counts_i: torch.Tensor,
                       counts_j: torch.Tensor, kappa: float,
                       tau: float) -> torch.Tensor:
    """``λ_y`` of every pair (module docstring), float32, (B,).

    Args:
        lam (float): the image mixing factor λ of the batch.
        counts_i (Tensor): n of the class of each first sample, (B,).
        counts_j (Tensor): n of the class of each partner, (B,).
        kappa (float): κ >= 1.
        tau (float): τ ∈ [0, 1].
    """
    ratio = counts_i.double() / counts_j.double()
    weight = torch.full(ratio.shape, float(lam), dtype=torch.float64,
                        device=ratio.device)
    weight[(ratio >= kappa) & (lam < tau)] = 0.0
    weight[(ratio <= 1.0 / kappa) & (1.0 - lam < tau)] = 1.0
    return weight.float()


@BATCH_AUGMENTS.register_module()
class Remix(ClassCountsMixin):
    """Rebalanced mixup batch augmentation (module docstring).

    Args:
        alpha (float): Beta(α, α) of the mixing factor, > 0. Defaults to
            1.0.
        kappa (float): κ >= 1, the count ratio from which a class counts as
            the majority. Defaults to 3.0 (paper).
        tau (float): τ ∈ [0, 1], the share below which the majority sample
            loses its label. Defaults to 0.5 (paper).
        class_counts (Sequence[int], optional): training counts (C,); None:
            set before the run by ``ClassCountsHook``.

    Shapes: inputs (B, ...) images, scores (B, C) one-hot.
    """

    def __init__(self, alpha: float = 1.0, kappa: float = 3.0,
                 tau: float = 0.5,
                 class_counts: Optional[Sequence[int]] = None):
        checks = (('alpha', alpha, alpha > 0, '> 0'),
                  ('kappa', kappa, kappa >= 1, '>= 1 (paper: 3)'),
                  ('tau', tau, 0 <= tau <= 1, 'in [0, 1] (paper: 0.5)'))
        for name, value, ok, rule in checks:
            if not ok:
                raise ValueError(f'Remix: {name}={value!r} must be {rule}.')
        self.alpha = float(alpha)
        self.kappa = float(kappa)
        self.tau = float(tau)
        self._init_class_counts(class_counts)

    def _on_class_counts(self, counts: List[int]) -> None:
        self.counts_tensor = torch.tensor(counts, dtype=torch.float64)

    def mix(self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor,
            lam: Optional[float] = None,
            index: Optional[torch.Tensor] = None
            ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mix a batch; ``lam`` / ``index`` are drawn when not given."""
        self.require_class_counts(batch_scores.size(1))
        if lam is None:
            lam = float(np.random.beta(self.alpha, self.alpha))
        if index is None:
            index = torch.randperm(batch_inputs.size(0))
        index = index.to(batch_inputs.device)
        mixed_inputs = lam * batch_inputs + (1 - lam) * batch_inputs[index]
        counts = self.counts_tensor.to(batch_scores.device)
        labels = batch_scores.argmax(dim=1)
        label_weight = remix_label_weight(
            lam, counts[labels], counts[labels[index]], self.kappa,
            self.tau).to(batch_scores)[:, None]
        mixed_scores = label_weight * batch_scores + \
            (1 - label_weight) * batch_scores[index]
        return mixed_inputs, mixed_scores

    def __call__(self, batch_inputs: torch.Tensor,
                 batch_score: torch.Tensor):
        if batch_score.ndim != 2:
            raise ValueError('Remix needs one-hot scores (B, C), got shape '
                             f'{tuple(batch_score.shape)}.')
        return self.mix(batch_inputs, batch_score.float())
