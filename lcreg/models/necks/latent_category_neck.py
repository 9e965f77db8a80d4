"""LatentCategoryNeck: LCReg's latent categories between backbone and head.

Notation (shared design doc): X ∈ R^{B×N×D} the backbone feature map with
N = H·W positions, P ∈ R^{M×D} the learnable latent pool, Z = proj(P)::

    S = sigmoid(X·Zᵀ)                          similarity,     eq. 1, B×N×M
    A = softmax_m(S / τ_a)                     assignment,     eq. 2, B×N×M
    R = A·Z                                    reconstruction, eq. 3, B×N×D
    U[b, m] = Σ_n A[b,n,m]·X[b,n] / Σ_n A[b,n,m]   latent features, B×M×D

U holds one sample per image for every latent category (label m): the
balanced latent dataset on which the latent ISDA loss (eq. 5–6) works, with
the latent classifier ``cls_lat`` (W_lat, b_lat) as its ``w, b``. R feeds the
reconstruction loss (eq. 4) and, with ``fuse='concat'`` (paper Fig. 3), the
head: ``GAP([X; R])``.

The latent branch runs in float32 even under autocast. ``forward`` is the
inference path (fused feature only, no loss work, no covariance update);
``loss`` is the training path (fused feature and the weighted neck losses).
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn

FUSIONS = ('concat', 'add', 'none')


def similarity(feats: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``S[b, n, m] = sigmoid(X[b, n]·Z[m])``; B×N×D, M×D → B×N×M."""
    return torch.sigmoid(torch.matmul(feats, latents.t()))


def assignment(sim: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 2: ``A = softmax_m(S / τ_a)`` over the latent axis; B×N×M."""
    return torch.softmax(sim / temperature, dim=-1)


def reconstruction(assign: torch.Tensor,
                   latents: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``R[b, n] = Σ_m A[b, n, m]·Z[m]``; B×N×M, M×D → B×N×D."""
    return torch.matmul(assign, latents)


def latent_features(assign: torch.Tensor,
                    feats: torch.Tensor) -> torch.Tensor:
    """``U[b, m] = Σ_n A[b,n,m]·X[b,n] / Σ_n A[b,n,m]``; → B×M×D.

    The assignment-weighted mean of the positions of image b for latent
    category m.
    """
    weighted_sum = torch.einsum('bnm,bnd->bmd', assign, feats)
    mass = assign.sum(dim=1).clamp_min(torch.finfo(assign.dtype).tiny)
    return weighted_sum / mass[..., None]


@MODELS.register_module()
class LatentCategoryNeck(BaseModule):
    """LCReg neck: latent pool, assignment, reconstruction and fusion.

    Args:
        in_channels (int): D, channels of the last backbone feature map.
        num_latents (int): M, the number of latent categories.
        fuse (str): head input: ``'concat'`` → GAP([X; R]) (2D, paper),
            ``'add'`` → GAP(X + R), ``'none'`` → GAP(X). With ``'none'`` and
            both losses off the neck has no latent parameters and is exactly
            global average pooling (the baseline row of the ablation).
        assign_temperature (float): τ_a of eq. 2 (paper-literal 1.0).
        recon_loss (dict | None): :class:`ReconstructionLoss` config, or None
            to switch eq. 4 off.
        aug_loss (dict | None): :class:`LatentISDALoss` config, or None to
            switch eq. 5–6 (and the latent classifier) off. ``num_latents``
            and ``in_channels`` are filled in by the neck.
        init_cfg (dict | list | None): MMEngine initialisation config.

    Shapes: input ``tuple`` of feature maps, the last one B×D×H×W; output
    ``(B×out_channels,)``.
    """

    def __init__(self,
                 in_channels: int,
                 num_latents: int,
                 fuse: str = 'concat',
                 assign_temperature: float = 1.0,
                 recon_loss: Optional[dict] = None,
                 aug_loss: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        if fuse not in FUSIONS:
            raise ValueError(f'LatentCategoryNeck: fuse={fuse!r} is not '
                             f'supported; use one of {FUSIONS}.')
        if int(in_channels) < 1 or int(num_latents) < 1:
            raise ValueError(
                'LatentCategoryNeck: in_channels and num_latents must be '
                f'positive, got {in_channels} and {num_latents}.')
        if assign_temperature <= 0:
            raise ValueError('LatentCategoryNeck: assign_temperature must be '
                             f'> 0, got {assign_temperature}.')
        self.in_channels = int(in_channels)
        self.num_latents = int(num_latents)
        self.fuse = fuse
        self.assign_temperature = float(assign_temperature)
        self.out_channels = 2 * self.in_channels if fuse == 'concat' \
            else self.in_channels

        self.recon_loss = None if recon_loss is None \
            else MODELS.build(recon_loss)
        self.aug_loss = None if aug_loss is None \
            else MODELS.build(self._complete_aug_cfg(aug_loss))
        self.with_latents = (fuse != 'none' or self.recon_loss is not None
                             or self.aug_loss is not None)
        if self.with_latents:
            D, M = self.in_channels, self.num_latents
            # Random init (the paper gives no distribution): N(0, 1).
            self.latent_pool = nn.Parameter(torch.randn(M, D))
            self.proj = nn.Linear(D, D)
        if self.aug_loss is not None:
            self.cls_lat = nn.Linear(self.in_channels, self.num_latents)

    def _complete_aug_cfg(self, aug_loss: dict) -> dict:
        cfg = dict(aug_loss)
        for key, value in (('num_latents', self.num_latents),
                           ('in_channels', self.in_channels)):
            if cfg.setdefault(key, value) != value:
                raise ValueError(
                    f'LatentCategoryNeck: aug_loss.{key}={cfg[key]} differs '
                    f'from the neck\'s {key}={value}; remove it from '
                    'aug_loss (the neck fills it in).')
        return cfg

    # ------------------------------------------------------------- equations
    def latents(self) -> torch.Tensor:
        """Z = proj(P), M×D, float32."""
        return F.linear(self.latent_pool.float(), self.proj.weight.float(),
                        self.proj.bias.float())

    def _feature_map(self, inputs) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            feat = inputs
        elif isinstance(inputs, Sequence) and len(inputs) > 0:
            feat = inputs[-1]
        else:
            raise TypeError('LatentCategoryNeck expects a tuple of backbone '
                            f'feature maps, got {type(inputs).__name__}.')
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(
                'LatentCategoryNeck expects the last backbone output to be '
                f'B×{self.in_channels}×H×W, got {tuple(feat.shape)}; set the '
                'neck\'s in_channels to the backbone\'s output channels.')
        return feat

    def extract_latents(self, inputs, need_recon: bool = True,
                        need_latent_feats: bool = True
                        ) -> Dict[str, torch.Tensor]:
        """All intermediate tensors of eq. 1–3 (float32).

        Returns:
            dict with ``feats`` X (B×N×D), ``similarity`` S, ``assignment`` A
            (B×N×M), and, if requested, ``reconstruction`` R (B×N×D) and
            ``latent_feats`` U (B×M×D).
        """
        if not self.with_latents:
            raise RuntimeError('LatentCategoryNeck built with fuse=\'none\' '
                               'and no losses has no latent categories.')
        feat = self._feature_map(inputs)
        with torch.autocast(device_type=feat.device.type, enabled=False):
            x = feat.float().flatten(2).transpose(1, 2)  # B×N×D
            z = self.latents()
            sim = similarity(x, z)
            assign = assignment(sim, self.assign_temperature)
            out = dict(feats=x, similarity=sim, assignment=assign)
            if need_recon:
                out['reconstruction'] = reconstruction(assign, z)
            if need_latent_feats:
                out['latent_feats'] = latent_features(assign, x)
        return out

    def _fused(self, feat: torch.Tensor,
               recon: Optional[torch.Tensor]) -> torch.Tensor:
        """GAP of X, X + R or [X; R] (B×out_channels, in X's dtype)."""
        pooled = feat.float().mean(dim=(2, 3))
        if self.fuse == 'none':
            return pooled.to(feat.dtype)
        pooled_recon = recon.mean(dim=1)  # R is B×N×D
        if self.fuse == 'add':
            fused = pooled + pooled_recon
        else:
            fused = torch.cat([pooled, pooled_recon], dim=1)
        return fused.to(feat.dtype)

    # --------------------------------------------------------------- paths
    def forward(self, inputs) -> Tuple[torch.Tensor]:
        """Inference path: ``(fused feature B×out_channels,)``; no losses."""
        feat = self._feature_map(inputs)
        recon = None
        if self.fuse != 'none':
            recon = self.extract_latents(
                inputs, need_recon=True,
                need_latent_feats=False)['reconstruction']
        return (self._fused(feat, recon), )

    def loss(self, inputs
             ) -> Tuple[Tuple[torch.Tensor], Dict[str, torch.Tensor]]:
        """Training path: fused feature and the weighted neck losses.

        Returns:
            tuple: ``((fused,), losses)`` with ``losses['loss_recon']``
            (β·eq. 4) and ``losses['loss_latent_aug']`` (α·eq. 5) for the
            enabled terms. Updates the latent covariance estimator.
        """
        feat = self._feature_map(inputs)
        losses = dict()
        if not self.with_latents:
            return (self._fused(feat, None), ), losses
        need_recon = self.fuse != 'none' or self.recon_loss is not None
        lat = self.extract_latents(
            inputs, need_recon=need_recon,
            need_latent_feats=self.aug_loss is not None)
        if self.recon_loss is not None:
            losses['loss_recon'] = self.recon_loss(lat['reconstruction'],
                                                   lat['feats'])
        if self.aug_loss is not None:
            losses['loss_latent_aug'] = self.aug_loss(
                lat['latent_feats'], self.cls_lat.weight, self.cls_lat.bias)
        return (self._fused(feat, lat.get('reconstruction')), ), losses
