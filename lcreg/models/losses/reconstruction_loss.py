"""Reconstruction loss of LCReg (eq. 4).

Per image, the correlation ``C = R·Xᵀ ∈ R^{N×N}`` between the reconstructed
positions R (eq. 3) and the original positions X; each reconstructed position
must match its own original position best among all N::

    L_recon = mean_{b, n} CE(C_b[n, :], target = n)               (eq. 4)

``norm='none'`` uses the raw dot products (paper-literal); ``norm='l2'`` (the
default) uses cosine similarities divided by ``temperature``. Computed in float32 even
under autocast (raw dot products of large features overflow float16).
"""
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

NORMS = ('none', 'l2')


def correlation(recon: torch.Tensor, feats: torch.Tensor, norm: str = 'none',
                temperature: float = 1.0) -> torch.Tensor:
    """``C[b, n, n'] = R[b, n]·X[b, n']`` (or cosine / temperature).

    Args:
        recon (Tensor): R, B×N×D.
        feats (Tensor): X, B×N×D.
        norm (str): ``'none'`` or ``'l2'``.
        temperature (float): divisor of the cosine similarities (``'l2'``).

    Returns:
        Tensor: B×N×N.
    """
    if norm == 'l2':
        recon = F.normalize(recon, dim=-1)
        feats = F.normalize(feats, dim=-1)
        return torch.bmm(recon, feats.transpose(1, 2)) / temperature
    return torch.bmm(recon, feats.transpose(1, 2))


@MODELS.register_module()
class ReconstructionLoss(nn.Module):
    """Position-matching reconstruction loss (eq. 4).

    Args:
        loss_weight (float): β of eq. 7. Defaults to 0.1 (paper).
        norm (str): ``'none'`` (paper-literal raw dot products) or ``'l2'``
            (cosine similarity / temperature). Defaults to ``'l2'``, which
            trained better in the project's ablation (README); with
            ``'none'`` the raw dot products grow and the loss falls to
            ~0.03 within a few epochs.
        temperature (float): τ_r, only used by ``norm='l2'``. Defaults to 0.1.
    """

    def __init__(self, loss_weight: float = 0.1, norm: str = 'l2',
                 temperature: float = 0.1):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f'ReconstructionLoss: norm={norm!r} is not '
                             f'supported; use one of {NORMS}.')
        if temperature <= 0:
            raise ValueError('ReconstructionLoss: temperature must be > 0, '
                             f'got {temperature}.')
        self.loss_weight = float(loss_weight)
        self.norm = norm
        self.temperature = float(temperature)

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, norm={self.norm!r}, '
                f'temperature={self.temperature}')

    def forward(self, recon: torch.Tensor,
                feats: torch.Tensor) -> torch.Tensor:
        """Weighted reconstruction loss.

        Args:
            recon (Tensor): reconstructed features R, B×N×D.
            feats (Tensor): original features X, B×N×D.

        Returns:
            Tensor: scalar, float32.
        """
        if recon.shape != feats.shape or recon.dim() != 3:
            raise ValueError(
                'ReconstructionLoss expects R and X of the same shape B×N×D, '
                f'got {tuple(recon.shape)} and {tuple(feats.shape)}.')
        B, N, _ = recon.shape
        with torch.autocast(device_type=recon.device.type, enabled=False):
            corr = correlation(recon.float(), feats.float(), self.norm,
                               self.temperature)
            target = torch.arange(N, device=corr.device).repeat(B)
            loss = F.cross_entropy(corr.reshape(B * N, N), target)
        return self.loss_weight * loss
