"""Linear head with learnable weight scaling and tau-normalisation.

* Learnable weight scaling (MiSLAS stage 2, following Kang et al.'s LWS):
  ``logits = s ⊙ (W x + b)``, ``s ∈ R^C`` initialised to 1.
* tau-normalisation (Kang et al., ICLR 2020, Sec. 4): at inference every class
  weight is rescaled, ``W_c ← W_c / ||W_c||^tau``; ``tau = 0`` changes nothing,
  ``tau = 1`` uses unit-norm class weights. The bias is left unchanged.
  :func:`tau_norm_sweep` picks ``tau`` on validation features.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ScaledLinearClsHead(LinearClsHead):
    """``LinearClsHead`` with per-class logit scale and inference tau-norm.

    Args:
        num_classes (int): number of classes C.
        in_channels (int): feature dimension D.
        learnable_scale (bool): train the scale ``s`` (shape (C,), init 1).
            With False it stays 1. Defaults to True.
        tau (float): tau-normalisation exponent used in eval mode
            (``model.eval()``: validation, test, predict). Training always
            uses the raw weights. Defaults to 0.0 (off).
        **kwargs: the arguments of ``LinearClsHead`` (loss, topk, cal_acc,
            init_cfg).

    Shapes: features ``(B, D)`` (last element of the input tuple), logits
    ``(B, C)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 learnable_scale: bool = True,
                 tau: float = 0.0,
                 **kwargs) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         **kwargs)
        self.learnable_scale = learnable_scale
        self.tau = float(tau)
        #: per-class scale s, shape (C,)
        self.scale = nn.Parameter(
            torch.ones(num_classes), requires_grad=learnable_scale)

    def tau_normalized_weight(self, tau: float) -> torch.Tensor:
        """``W_c / ||W_c||_2^tau`` for every class, shape (C, D)."""
        weight = self.fc.weight
        if tau == 0:
            return weight
        norms = weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return weight / norms.pow(tau)

    def logits(self, x: torch.Tensor, tau: float = 0.0) -> torch.Tensor:
        """``s ⊙ (W_tau x + b)``.

        Args:
            x (Tensor): features, shape (B, D).
            tau (float): tau-normalisation exponent.

        Returns:
            Tensor: logits, shape (B, C).
        """
        return self.scale * F.linear(x, self.tau_normalized_weight(tau),
                                     self.fc.bias)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, C)``; ``tau`` is applied only in eval mode."""
        tau = 0.0 if self.training else self.tau
        return self.logits(self.pre_logits(feats), tau)


@torch.no_grad()
def tau_norm_sweep(feats: torch.Tensor,
                   labels: torch.Tensor,
                   head: ScaledLinearClsHead,
                   taus: Sequence[float] = tuple(i / 10 for i in range(21)),
                   batch_size: Optional[int] = 4096
                   ) -> Tuple[float, Dict[float, float]]:
    """Post-hoc tau-normalisation: top-1 accuracy for every ``tau`` of a grid.

    Args:
        feats (Tensor): head-input features of a validation set, (N, D).
        labels (Tensor): their integer labels, shape (N,).
        head (ScaledLinearClsHead): the trained head (not modified).
        taus (Sequence[float]): grid of tau. Defaults to 0, 0.1, ..., 2.0.
        batch_size (int, optional): features per forward pass
            (None: all at once).

    Returns:
        tuple: ``(best_tau, scores)`` with ``scores = {tau: top-1 %}``; ties
        go to the first tau of the grid. Set ``head.tau = best_tau`` to use
        it.
    """
    if feats.dim() != 2 or feats.size(1) != head.in_channels:
        raise ValueError(f'tau_norm_sweep: feats has shape '
                         f'{tuple(feats.shape)}, expected (N, '
                         f'{head.in_channels}).')
    if labels.shape != (feats.size(0), ):
        raise ValueError(
            f'tau_norm_sweep: labels has shape {tuple(labels.shape)}, '
            f'expected ({feats.size(0)},).')
    if feats.size(0) == 0:
        raise ValueError('tau_norm_sweep: feats is empty (N = 0).')
    if len(taus) == 0:
        raise ValueError('tau_norm_sweep: taus is empty.')
    device = head.fc.weight.device
    chunk = batch_size or feats.size(0)
    scores = {}
    for tau in taus:
        correct = 0
        for start in range(0, feats.size(0), chunk):
            x = feats[start:start + chunk].to(device)
            y = labels[start:start + chunk].to(device)
            pred = head.logits(x, float(tau)).argmax(dim=1)
            correct += int((pred == y).sum())
        scores[float(tau)] = 100.0 * correct / feats.size(0)
    best_tau = max(scores, key=scores.get)
    return best_tau, scores
