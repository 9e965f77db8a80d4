"""Class-wise implicit semantic data augmentation loss (Wang et al.,
"Implicit Semantic Data Augmentation for Deep Networks", NeurIPS 2019,
eq. 8–9 / Alg. 1): ISDA over the class labels on the pooled feature.

The same upper bound as :class:`LatentISDALoss` (LCReg eq. 5–6), with the
C classes in place of the M latent categories: a sample with feature
``a ∈ R^D`` and label y, the classifier rows ``w_j`` and biases ``b_j``::

    z_j  = w_j·a + b_j
    z̃_j  = z_j + (λ / 2)·(w_j − w_y)ᵀ Σ_y (w_j − w_y)
    L    = CE(z̃, y)

``Σ_y`` is the covariance of the features of class y, estimated online with
the pooled update of :class:`LatentCovarianceEstimator` (one category per
class; a sample updates only its own class). λ = λ0·t/T is set by
:class:`lcreg.engine.hooks.LatentAugScheduleHook`, as for the latent loss.

Soft targets (Mixup in MiSLAS' stage 1, which the source does not cover):
``L = Σ_k y_k·CE(z + (λ/2)·σ²_k, k)``, the mixup loss of the augmented
logits of each mixed class; the covariance of a mixed image goes to its
dominant class (argmax of the target). With hard labels both are ISDA
exactly; with λ = 0 the loss is the (soft) cross-entropy.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .class_balanced import target_distribution
from .latent_isda_loss import LatentISDALoss, augmentation_variance


@MODELS.register_module()
class ClassISDALoss(LatentISDALoss):
    """ISDA over the classes (module docstring); the head's class loss.

    Args:
        num_classes (int): C (the head sets it).
        in_channels (int): D, the head's input width (the head sets it).
        loss_weight (float): multiplier. Defaults to 1.0 (it replaces the
            cross-entropy).
        lambda0 (float): final λ. Defaults to 0.5 (ISDA's CIFAR value).
        cov_type (str | None): 'full', 'diag' or None (full for D ≤ 512).

    Shapes: features (B, D), weight (C, D), bias (C,), label (B,) or soft
    (B, C).
    """

    def __init__(self, num_classes: int, in_channels: int,
                 loss_weight: float = 1.0, lambda0: float = 0.5,
                 cov_type: Optional[str] = None):
        super().__init__(num_latents=num_classes, in_channels=in_channels,
                         loss_weight=loss_weight, lambda0=lambda0,
                         cov_type=cov_type)

    @property
    def num_classes(self) -> int:
        return self.num_latents

    def forward(self, features: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor],
                label: torch.Tensor) -> torch.Tensor:
        """Update Σ with the batch, then return the weighted loss.

        Returns:
            Tensor: scalar ``loss_weight · mean_b L_b``, float32.
        """
        C, D = self.num_classes, self.in_channels
        if features.dim() != 2 or features.size(1) != D or \
                weight.shape != (C, D):
            raise ValueError(
                f'ClassISDALoss expects features (B, {D}) and weight ({C}, '
                f'{D}), got {tuple(features.shape)} and '
                f'{tuple(weight.shape)}.')
        target = target_distribution(label, C, 'ClassISDALoss')
        B = features.size(0)
        dominant = F.one_hot(target.argmax(dim=1), C)
        self.estimator.update(features[:, None, :].expand(B, C, D),
                              membership=dominant)
        with torch.autocast(device_type=features.device.type,
                            enabled=False):
            weight = weight.float()
            logits = F.linear(features.float(), weight,
                              None if bias is None else bias.float())
            rows, classes = target.nonzero(as_tuple=True)
            pair_logits = logits[rows]  # one row per (sample, class) pair
            if self.strength > 0:
                sigma2 = augmentation_variance(
                    weight, self.estimator.covariance.float())
                pair_logits = pair_logits + 0.5 * self.strength * \
                    sigma2[classes]
            pair_loss = F.cross_entropy(pair_logits, classes,
                                        reduction='none')
            loss = (target[rows, classes] * pair_loss).sum() / B
        return self.loss_weight * loss
