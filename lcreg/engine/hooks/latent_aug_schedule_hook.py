"""λ schedule of the latent ISDA loss: ``λ = λ0 · t / T`` (LCReg eq. 6).

Before every training iteration the hook sets ``progress = min(t / T, 1)`` on
every :class:`~lcreg.models.losses.LatentISDALoss` of the model, with t the
index of the iteration about to run (``runner.iter``, restored on resume) and
T the number of iterations of the representation stage. Every LCReg config
includes this hook; without it the losses keep progress 0 (λ = 0, plain
latent classification, no augmentation).
"""
import logging
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from lcreg.models.losses.latent_isda_loss import LatentISDALoss


@HOOKS.register_module()
class LatentAugScheduleHook(Hook):
    """Set the λ-schedule progress of all latent ISDA losses.

    Args:
        total_iters (int | None): T in iterations.
        total_epochs (int | None): T in epochs of the training dataloader
            (T = total_epochs · len(train_dataloader)), for two-stage
            schedules whose stage 1 is shorter than the whole run.
        Give at most one of them. By default T is stage 1 of a
        ``TwoStageTrainLoop`` (``stage1_epochs · len(train_dataloader)``),
        else ``runner.max_iters``.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, total_iters: Optional[int] = None,
                 total_epochs: Optional[int] = None):
        if total_iters is not None and total_epochs is not None:
            raise ValueError('LatentAugScheduleHook: give total_iters or '
                             'total_epochs, not both.')
        for name, value in (('total_iters', total_iters),
                            ('total_epochs', total_epochs)):
            if value is not None and (not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f'LatentAugScheduleHook: {name} must be a '
                                 f'positive int, got {value!r}.')
        self.total_iters = total_iters
        self.total_epochs = total_epochs
        self._cached_total = None

    @staticmethod
    def _isda_losses(runner) -> List[LatentISDALoss]:
        model = runner.model
        if is_model_wrapper(model) or hasattr(model, 'module'):
            model = model.module
        return [m for m in model.modules() if isinstance(m, LatentISDALoss)]

    def _total(self, runner) -> int:
        if self._cached_total is None:
            self._cached_total = self._compute_total(runner)
        return self._cached_total

    def _compute_total(self, runner) -> int:
        """T, fixed once before training (stage 2 changes the loader)."""
        if self.total_iters is not None:
            return self.total_iters
        epochs = self.total_epochs
        if epochs is None:
            # a TwoStageTrainLoop: T is stage 1, the stage with the ISDA loss
            loop = getattr(runner, 'train_loop', None)
            epochs = getattr(loop, 'stage1_epochs', None)
        if epochs is not None:
            return max(epochs * len(runner.train_dataloader), 1)
        return runner.max_iters

    def _set_progress(self, runner) -> None:
        progress = min(runner.iter / self._total(runner), 1.0)
        for loss in self._isda_losses(runner):
            loss.set_progress(progress)

    def before_train(self, runner) -> None:
        if not self._isda_losses(runner):
            print_log(
                'LatentAugScheduleHook: the model has no LatentISDALoss '
                '(aug_loss is off), so this hook has nothing to schedule.',
                logger='current', level=logging.WARNING)
        self._set_progress(runner)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._set_progress(runner)
