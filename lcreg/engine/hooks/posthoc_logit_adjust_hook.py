"""Post-hoc logit adjustment (Menon et al., ICLR 2021, eq. 9).

At evaluation (validation, test, prediction) the head's logits f(x) of any
trained model are replaced by ``f_j(x) − τ·log π_j``, with the training
priors ``π_j = n_j / Σ_k n_k`` of ``train_dataloader.dataset``; the
prediction is their argmax and the scores their softmax. Training logits
are untouched. ``τ = 0`` (the default of every config,
``default_hooks.logit_adjust``) changes nothing and reads no data. On a
trained checkpoint::

    python tools/analysis/tau_norm_sweep.py CONFIG CKPT --method logit-adjust
    python tools/test.py CONFIG CKPT --cfg-options default_hooks.logit_adjust.tau=<best>
"""
from typing import Dict, Sequence, Tuple

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from lcreg.models.losses.class_counts import check_class_counts
from lcreg.models.losses.logit_adjusted_loss import check_tau, log_priors

from .class_counts_hook import training_class_counts, unwrapped


@HOOKS.register_module()
class PosthocLogitAdjustHook(Hook):
    """Subtract ``τ·log π`` from the head's logits in eval mode.

    Args:
        tau (float): τ >= 0; 0 is off. Defaults to 0.0.
    """

    priority = 'VERY_HIGH'

    def __init__(self, tau: float = 0.0):
        self.tau = check_tau(tau, 'PosthocLogitAdjustHook')
        self._handle = None

    def before_run(self, runner) -> None:
        if self.tau == 0 or self._handle is not None:
            return
        head = getattr(unwrapped(runner.model), 'head', None)
        if head is None:
            raise ValueError('PosthocLogitAdjustHook: the model has no head.')
        counts = training_class_counts(runner, 'PosthocLogitAdjustHook')
        shift = self.tau * log_priors(counts)
        tau = self.tau

        def adjust(module, inputs, output):
            if module.training:
                return output
            if output.size(-1) != shift.numel():
                raise ValueError(
                    f'PosthocLogitAdjustHook: the head has {output.size(-1)} '
                    f'classes, train_dataloader.dataset {shift.numel()}.')
            return output - shift.to(output)

        self._handle = head.register_forward_hook(adjust)
        runner.logger.info(f'post-hoc logit adjustment: eval logits − '
                           f'{tau}·log π (training priors)')

    def after_run(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


@torch.no_grad()
def logit_adjust_sweep(logits: torch.Tensor, labels: torch.Tensor,
                       class_counts: Sequence[int],
                       taus: Sequence[float] = tuple(i / 10
                                                     for i in range(21))
                       ) -> Tuple[float, Dict[float, float]]:
    """Top-1 (%) of ``argmax_j logits_j − τ·log π_j`` for every τ.

    Args:
        logits (Tensor): the head's logits of a split, (N, C).
        labels (Tensor): their labels, (N,).
        class_counts (Sequence[int]): training counts (C,) giving π.
        taus (Sequence[float]): grid of τ >= 0 (default 0, 0.1, ..., 2).

    Returns:
        tuple: ``(best_tau, {tau: top-1 %})``, ties to the first τ.
    """
    where = 'logit_adjust_sweep'
    counts = check_class_counts(class_counts, where)
    if logits.dim() != 2 or logits.size(1) != len(counts):
        raise ValueError(f'{where}: logits have shape {tuple(logits.shape)}'
                         f', expected (N, {len(counts)}).')
    if labels.shape != (logits.size(0), ) or logits.size(0) == 0:
        raise ValueError(f'{where}: labels have shape '
                         f'{tuple(labels.shape)}, expected '
                         f'({logits.size(0)},) with N > 0.')
    if len(taus) == 0:
        raise ValueError(f'{where}: taus is empty.')
    log_prior = log_priors(counts).to(logits)
    scores = {}
    for tau in taus:
        tau = check_tau(float(tau), where)
        pred = (logits - tau * log_prior).argmax(dim=1)
        scores[tau] = 100.0 * (pred == labels.to(pred.device)).float(
        ).mean().item()
    best_tau = max(scores, key=scores.get)
    return best_tau, scores
