"""Online per-latent-category covariance estimator (Σ_m of LCReg eq. 6).

Each image contributes one sample ``U[b, m]`` to every latent category ``m``
(see :func:`lcreg.models.necks.latent_category_neck.latent_features`), so a
batch of B images gives B samples per category. The running statistics are
merged with a batch by the exact pooled update used by ISDA::

    w = n / (n + N)
    Σ ← (1 − w)·Σ + w·Σ̂ + w·(1 − w)·(μ − μ̂)(μ − μ̂)ᵀ
    μ ← (1 − w)·μ + w·μ̂
    N ← N + n

where ``μ̂`` and ``Σ̂`` are the batch mean and the *biased* batch covariance
(divided by n, not n − 1). With this choice the running ``Σ`` after any number
of updates is exactly the biased covariance of all samples seen so far
(``numpy.cov(all_samples, rowvar=False, bias=True)``), and the first update
(N = 0, w = 1) simply copies the batch statistics.

The statistics live in registered buffers (checkpointed, restored on resume).
Updates run on detached features, in float32 even under autocast, and, when
``torch.distributed`` is initialised with more than one process, on the batch
statistics all-reduced over all processes, so every rank holds the Σ a single
process would hold with the global batch.
"""
from typing import Optional

import torch
import torch.distributed as dist
from mmpretrain.registry import MODELS
from torch import nn

COV_TYPES = ('full', 'diag')


def _world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _sum_over_processes(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum of ``tensor`` over all processes (no-op when single)."""
    if _world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


@MODELS.register_module()
class LatentCovarianceEstimator(nn.Module):
    """Running mean and covariance of every latent category.

    Args:
        num_latents (int): Number of latent categories M.
        feature_dim (int): Feature dimension D.
        cov_type (str): ``'full'`` keeps an M×D×D covariance per category,
            ``'diag'`` only its diagonal (M×D), as ISDA does for large D.

    Buffers:
        mean (M×D), covariance (M×D×D or M×D), count (M,) int64: the number
        of samples seen per category (the same for all categories when fed
        by the neck, kept per category for generality).
    """

    def __init__(self, num_latents: int, feature_dim: int,
                 cov_type: str = 'full'):
        super().__init__()
        if cov_type not in COV_TYPES:
            raise ValueError(
                f'LatentCovarianceEstimator: cov_type={cov_type!r} is not '
                f'supported; use one of {COV_TYPES}.')
        if int(num_latents) < 1 or int(feature_dim) < 1:
            raise ValueError(
                'LatentCovarianceEstimator: num_latents and feature_dim must '
                f'be positive, got {num_latents} and {feature_dim}.')
        self.num_latents = int(num_latents)
        self.feature_dim = int(feature_dim)
        self.cov_type = cov_type
        M, D = self.num_latents, self.feature_dim
        cov_shape = (M, D, D) if cov_type == 'full' else (M, D)
        self.register_buffer('mean', torch.zeros(M, D))
        self.register_buffer('covariance', torch.zeros(cov_shape))
        self.register_buffer('count', torch.zeros(M, dtype=torch.long))

    def extra_repr(self) -> str:
        return (f'num_latents={self.num_latents}, '
                f'feature_dim={self.feature_dim}, cov_type={self.cov_type!r}')

    @torch.no_grad()
    def batch_statistics(self, features: torch.Tensor,
                         membership: Optional[torch.Tensor] = None):
        """Global (all-process) batch count, mean and biased covariance.

        Args:
            features (Tensor): B×M×D, ``features[b, m]`` a sample of category
                m.
            membership (Tensor, optional): B×M 0/1: ``membership[b, m] = 1``
                when sample b belongs to category m. None: every sample
                belongs to every category (the latent dataset). Class-wise
                ISDA passes the one-hot labels (features expanded from
                B×D); a category without a sample in the batch gets n = 0
                and zero statistics.

        Returns:
            tuple: n (M,) the global batch size per category, μ̂ (M×D),
            Σ̂ (M×D×D or M×D); all float32.
        """
        if features.dim() != 3 or features.shape[1:] != (self.num_latents,
                                                         self.feature_dim):
            raise ValueError(
                'LatentCovarianceEstimator.update expects features of shape '
                f'B×{self.num_latents}×{self.feature_dim}, got '
                f'{tuple(features.shape)}.')
        if membership is not None and membership.shape != features.shape[:2]:
            raise ValueError(
                'LatentCovarianceEstimator: membership must be B×M = '
                f'{tuple(features.shape[:2])}, got {tuple(membership.shape)}.')
        with torch.autocast(device_type=features.device.type, enabled=False):
            x = features.detach().float()
            # Count and Σx in one all-reduce, then the scatter about the
            # *global* batch mean in a second one (numerically safer than
            # Σxxᵀ − n·μ̂μ̂ᵀ, and exact across processes).
            if membership is None:
                count_and_sum = torch.cat(
                    [x.new_full((self.num_latents, 1), float(x.shape[0])),
                     x.sum(dim=0)], dim=1)
            else:
                member = membership.detach().float()
                count_and_sum = torch.cat(
                    [member.sum(dim=0)[:, None],
                     torch.einsum('bm,bmd->md', member, x)], dim=1)
            _sum_over_processes(count_and_sum)
            n = count_and_sum[:, 0]  # (M,), kept on device: no host sync
            batch_mean = count_and_sum[:, 1:] / n.clamp_min(1.0)[:, None]
            centred = x - batch_mean
            if membership is not None:
                centred = centred * member[:, :, None]
            if self.cov_type == 'full':
                scatter = torch.einsum('bmd,bme->mde', centred, centred)
            else:
                scatter = centred.pow(2).sum(dim=0)
            _sum_over_processes(scatter)
            batch_cov = scatter / self._per_latent(n.clamp_min(1.0))
        return n, batch_mean, batch_cov

    def _per_latent(self, values: torch.Tensor) -> torch.Tensor:
        """Reshape an (M,) vector to broadcast against the covariance."""
        return values.view(-1, *([1] * (self.covariance.dim() - 1)))

    @torch.no_grad()
    def update(self, features: torch.Tensor,
               membership: Optional[torch.Tensor] = None) -> None:
        """Merge a batch of latent category features into the statistics.

        Args:
            features (Tensor): B×M×D (detached internally, cast to float32).
            membership (Tensor, optional): B×M 0/1 (see
                ``batch_statistics``); categories without a sample in the
                batch keep their statistics.
        """
        with torch.autocast(device_type=features.device.type, enabled=False):
            n, batch_mean, batch_cov = self.batch_statistics(features,
                                                             membership)
            total = self.count.double() + n.double()
            w = (n.double() / total.clamp_min(1.0)).float()
            mean = self.mean.float()
            delta = mean - batch_mean  # μ − μ̂
            if self.cov_type == 'full':
                shift = torch.einsum('md,me->mde', delta, delta)
            else:
                shift = delta.pow(2)
            w_cov = self._per_latent(w)
            new_cov = ((1 - w_cov) * self.covariance.float()
                       + w_cov * batch_cov + w_cov * (1 - w_cov) * shift)
            new_mean = (1 - w[:, None]) * mean + w[:, None] * batch_mean
            self.covariance.copy_(new_cov)
            self.mean.copy_(new_mean)
            self.count.add_(n.round().long())
