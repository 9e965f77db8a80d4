"""Deferred re-weighting (DRW; Cao et al., NeurIPS 2019, Alg. 1 and Sec. 3.3).

Training runs with unweighted losses until epoch ``start_epoch`` (160 of
200 in LDAM-DRW), then with the class-balanced weights of Cui et al.
(:func:`lcreg.models.losses.class_balanced_weights`, β = 0.9999, summing to
C). Before every training epoch the hook sets ``class_weight`` of the
head's loss from ``runner.epoch`` alone: None before ``start_epoch``, the
weights from it on. No state is kept, so a run resumed on either side of
the switch gets the same weights as the uninterrupted one.
``start_epoch=0`` gives class-balanced weights for the whole run (Cui et
al.'s class-balanced loss).

How the weighted loss is averaged is the loss's convention:
``LDAMLoss``, ``SoftmaxFocalLoss``, ``LogitAdjustedLoss`` and
``BalancedSoftmaxLoss`` and ``ClassWeightedCrossEntropyLoss`` (the
Remix-DRW recipe's, on soft labels) divide by the batch's weight sum
(``Σ_b w_{y_b}`` for hard labels; PyTorch's ``F.cross_entropy(weight=w)``,
as the official LDAM-DRW code); MMPretrain's ``CrossEntropyLoss`` also
works with this hook but divides by the batch size B.

The hook lives in the recipes' ``custom_hooks`` list: a child config that
sets ``custom_hooks`` must list it again (MMEngine replaces lists).
"""
from typing import List, Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from lcreg.models.losses.class_balanced import (check_beta,
                                                class_balanced_weights)

from .class_counts_hook import training_class_counts, unwrapped


@HOOKS.register_module()
class DeferredReweightingHook(Hook):
    """Switch the head loss to class-balanced weights at ``start_epoch``.

    Args:
        start_epoch (int): first epoch (0-based) with weights, >= 0.
            Defaults to 160 (LDAM-DRW's CIFAR schedule).
        beta (float): β ∈ [0, 1) of the effective number. Defaults to
            0.9999.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, start_epoch: int = 160, beta: float = 0.9999):
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) \
                or start_epoch < 0:
            raise ValueError('DeferredReweightingHook: start_epoch='
                             f'{start_epoch!r} must be an int >= 0.')
        self.start_epoch = start_epoch
        self.beta = check_beta(beta, 'DeferredReweightingHook')
        self._weights: Optional[List[float]] = None

    @staticmethod
    def _loss(runner):
        head = getattr(unwrapped(runner.model), 'head', None)
        loss = getattr(head, 'loss_module', None)
        if loss is None or not hasattr(loss, 'class_weight'):
            raise ValueError(
                'DeferredReweightingHook sets model.head.loss_module.'
                f'class_weight, but the head loss ({type(loss).__name__}) has '
                'no class_weight: use a loss with class weights (LDAMLoss, '
                'SoftmaxFocalLoss, CrossEntropyLoss, ...).')
        return loss

    def weights(self, runner) -> List[float]:
        """The class-balanced weights of the training set (C,)."""
        if self._weights is None:
            counts = training_class_counts(runner, 'DeferredReweightingHook')
            self._weights = class_balanced_weights(
                counts, self.beta, 'DeferredReweightingHook').tolist()
        return self._weights

    def before_train(self, runner) -> None:
        self._loss(runner)  # refuse a loss without class weights up front

    def before_train_epoch(self, runner) -> None:
        loss = self._loss(runner)
        on = runner.epoch >= self.start_epoch
        previous = loss.class_weight
        loss.class_weight = self.weights(runner) if on else None
        if (previous is None) == on:  # changed, or first epoch
            runner.logger.info(
                f'DeferredReweightingHook: epoch {runner.epoch}: class '
                f"weights {'on (beta=' + str(self.beta) + ')' if on else 'off'}"
                f' (switch at epoch {self.start_epoch})')
