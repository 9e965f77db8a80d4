"""Latent implicit semantic data augmentation loss (LCReg eq. 5–6).

ISDA applied to the balanced "latent dataset": every image contributes one
sample ``U[b, m]`` to every latent category m, with label m. The latent
classifier of the neck (weights ``W_lat`` = rows ``w_j``, bias ``b_lat``) gives
logits ``z = W_lat·U[b, m] + b_lat`` and the loss is the upper bound of the
expected cross-entropy over features augmented with N(0, λΣ_m)::

    z̃_j = z_j + (λ / 2)·(w_j − w_m)ᵀ Σ_m (w_j − w_m)            (eq. 6)
    L_latent_aug = mean_{b, m} CE(z̃, m)                         (eq. 5)

With λ = 0 this is the plain latent classification CE. ``λ = λ0·progress``,
``progress = t/T`` is set each iteration by
:class:`lcreg.engine.hooks.LatentAugScheduleHook` (every LCReg config includes
it). Without the hook the progress stays 0, i.e. no augmentation.

Gradients flow into U, W_lat and b_lat (the augmentation term depends on
W_lat too, as in ISDA) but never into Σ, which is estimated online from the
detached U by :class:`LatentCovarianceEstimator`. All of it runs in float32,
also under autocast.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

from .latent_covariance import LatentCovarianceEstimator

#: Largest feature dimension for which ``cov_type=None`` picks 'full'.
FULL_COVARIANCE_MAX_DIM = 512


def augmentation_variance(weight: torch.Tensor,
                          covariance: torch.Tensor) -> torch.Tensor:
    """``σ²[m, j] = (w_j − w_m)ᵀ Σ_m (w_j − w_m)`` for all m, j (eq. 6).

    Independent of the batch, so computed once per step and broadcast.

    Args:
        weight (Tensor): M×D latent classifier weights (rows ``w_j``).
        covariance (Tensor): M×D×D full covariances or M×D diagonals.

    Returns:
        Tensor: M×M, row m for samples of label m (``σ²[m, m] = 0``).
    """
    if covariance.dim() == 3:
        diff = weight[None, :, :] - weight[:, None, :]  # [m, j] = w_j − w_m
        # One batched matmul over m: (M×M×D)·(M×D×D) → M×M×D, no M×M×D×D.
        return (torch.bmm(diff, covariance) * diff).sum(dim=-1)
    # Diagonal Σ_m = diag(v_m): expand the square, Σ_d (w_jd − w_md)²·v_md
    # = v_m·w_j² − 2·(v_m ⊙ w_m)·w_j + v_m·w_m², three M×M matmul-sized
    # terms instead of an M×M×D tensor (D = 2048 on ImageNet).
    var = covariance
    return (var @ weight.pow(2).t() - 2 * (var * weight) @ weight.t()
            + (var * weight.pow(2)).sum(dim=1, keepdim=True))


def latent_logits(latent_feats: torch.Tensor, weight: torch.Tensor,
                  bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``z = W_lat·U + b_lat`` for every sample: B×M×D → B×M×M."""
    return F.linear(latent_feats, weight, bias)


@MODELS.register_module()
class LatentISDALoss(nn.Module):
    """ISDA loss over latent categories, with its own covariance estimator.

    Args:
        num_latents (int): Number of latent categories M (the neck sets it).
        in_channels (int): Feature dimension D (the neck sets it).
        loss_weight (float): α of eq. 7. Defaults to 0.1 (paper).
        lambda0 (float): Final augmentation strength λ0 (λ = λ0·t/T).
            Defaults to 0.5 (ISDA's CIFAR value).
        cov_type (str | None): ``'full'``, ``'diag'`` or None for automatic:
            full when D ≤ 512, diagonal otherwise.
    """

    def __init__(self,
                 num_latents: int,
                 in_channels: int,
                 loss_weight: float = 0.1,
                 lambda0: float = 0.5,
                 cov_type: Optional[str] = None):
        super().__init__()
        if cov_type is None:
            cov_type = 'full' if in_channels <= FULL_COVARIANCE_MAX_DIM \
                else 'diag'
        if lambda0 < 0:
            raise ValueError(
                f'LatentISDALoss: lambda0 must be >= 0, got {lambda0}.')
        self.num_latents = int(num_latents)
        self.in_channels = int(in_channels)
        self.loss_weight = float(loss_weight)
        self.lambda0 = float(lambda0)
        self.estimator = LatentCovarianceEstimator(num_latents, in_channels,
                                                   cov_type)
        self.progress = 0.0

    @property
    def cov_type(self) -> str:
        return self.estimator.cov_type

    @property
    def strength(self) -> float:
        """Current λ = λ0 · progress."""
        return self.lambda0 * self.progress

    def set_progress(self, progress: float) -> None:
        """Set the training progress t/T ∈ [0, 1] of the λ schedule."""
        progress = float(progress)
        if not 0.0 <= progress <= 1.0:
            raise ValueError('LatentISDALoss.set_progress expects a value in '
                             f'[0, 1], got {progress}.')
        self.progress = progress

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, lambda0={self.lambda0}, '
                f'progress={self.progress}')

    def forward(self, latent_feats: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        """Update Σ with the batch, then return the weighted loss (eq. 5).

        Args:
            latent_feats (Tensor): U, B×M×D; ``U[b, m]`` has label m.
            weight (Tensor): W_lat, M×D.
            bias (Tensor | None): b_lat, M.

        Returns:
            Tensor: scalar ``loss_weight · mean CE(z̃, m)``, float32.
        """
        B, M, D = latent_feats.shape
        if (M, D) != (self.num_latents, self.in_channels) or \
                weight.shape != (M, D):
            raise ValueError(
                f'LatentISDALoss expects U of shape B×{self.num_latents}×'
                f'{self.in_channels} and W_lat of shape {self.num_latents}×'
                f'{self.in_channels}, got {tuple(latent_feats.shape)} and '
                f'{tuple(weight.shape)}.')
        # As ISDA: merge the batch first, so Σ is never empty when used.
        self.estimator.update(latent_feats)
        with torch.autocast(device_type=latent_feats.device.type,
                            enabled=False):
            weight = weight.float()
            bias = None if bias is None else bias.float()
            logits = latent_logits(latent_feats.float(), weight, bias)
            if self.strength > 0:
                sigma2 = augmentation_variance(
                    weight, self.estimator.covariance.float())
                logits = logits + 0.5 * self.strength * sigma2[None]
            target = torch.arange(M, device=logits.device).repeat(B)
            loss = F.cross_entropy(logits.reshape(B * M, M), target)
        return self.loss_weight * loss
