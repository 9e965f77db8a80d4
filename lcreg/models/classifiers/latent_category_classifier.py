"""Image classifier whose neck adds its own training losses (LCReg eq. 7)."""
from typing import Dict, List

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class LatentCategoryClassifier(ImageClassifier):
    """MMPretrain ``ImageClassifier`` that sums neck losses with the head loss.

    In training the neck's ``loss(feats)`` is called; it returns the fused
    feature for the head and a dict of already weighted losses
    (``loss_recon`` = β·L_recon, ``loss_latent_aug`` = α·L_latent_aug).
    The head loss (γ·L_cls, γ = the head loss' ``loss_weight``) is added by
    MMEngine, which sums every ``loss*`` key: the total is eq. 7
    ``L = γ·L_cls + α·L_latent_aug + β·L_recon``, each term logged apart.

    At inference the neck's plain ``forward`` runs: no loss code, no
    covariance update.

    Args:
        neck_losses (bool): compute the neck losses in training. The
            two-stage recipe switches this off for the classifier stage.
            Defaults to True.
        Other arguments: see ``mmpretrain.models.ImageClassifier``.
    """

    def __init__(self, *args, neck_losses: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.neck_losses = neck_losses

    @property
    def computes_neck_losses(self) -> bool:
        return (self.neck_losses and self.with_neck
                and hasattr(self.neck, 'loss'))

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Head loss plus the neck losses.

        Args:
            inputs (Tensor): images, B×3×H×W.
            data_samples (list[DataSample]): their annotations.
        """
        if not self.computes_neck_losses:
            return super().loss(inputs, data_samples)
        feats, losses = self.neck.loss(self.backbone(inputs))
        head_losses = self.head.loss(feats, data_samples)
        # MMEngine logs the total under 'loss'; the head's own 'loss' would
        # overwrite it in the log, so the class term is logged as loss_cls.
        if 'loss' in head_losses:
            head_losses['loss_cls'] = head_losses.pop('loss')
        clash = set(head_losses) & set(losses)
        if clash:
            raise KeyError(f'the head and the neck both return the loss '
                           f'keys {sorted(clash)}; rename one of them')
        losses.update(head_losses)
        return losses
