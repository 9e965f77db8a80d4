"""λ schedule of the latent ISDA loss: ``λ = λ0 · t / T`` (LCReg eq. 6).

Before every training iteration the hook sets ``progress = min(t / T, 1)`` on
every :class:`~lcreg.models.losses.LatentISDALoss` of the model, with t the
index of the iteration about to run (``runner.iter``, restored on resume) and
T the number of iterations of the representation stage. Every LCReg config
includes this hook; without it the losses keep progress 0 (λ = 0, plain
latent classification, no augmentation). MMEngine replaces lists on
inheritance, so a child config (or ``--cfg-options custom_hooks=[...]``)
that sets ``custom_hooks`` drops the hook of the base config:
:func:`check_schedule_registered` (run by ``TwoStageTrainLoop`` before the
first stage-1 epoch) refuses such a run instead of training without
augmentation.
"""
import logging
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from lcreg.models.losses.latent_isda_loss import LatentISDALoss


def _unwrapped(model):
    return model.module if (is_model_wrapper(model)
                            or hasattr(model, 'module')) else model


def check_schedule_registered(runner) -> None:
    """Raise ``ValueError`` when the model has a latent ISDA loss with
    λ0 > 0 but no :class:`LatentAugScheduleHook` is registered: its λ
    would stay 0 for the whole run."""
    scheduled = [name for name, m in _unwrapped(runner.model).named_modules()
                 if isinstance(m, LatentISDALoss) and m.lambda0 > 0]
    if not scheduled or any(isinstance(h, LatentAugScheduleHook)
                            for h in runner.hooks):
        return
    hooks = [type(h).__name__ for h in runner.hooks]
    raise ValueError(
        f'model.{scheduled[0]} is a LatentISDALoss (λ = λ0·t/T), but no '
        f'LatentAugScheduleHook is registered (hooks: {", ".join(hooks)}), '
        'so λ would stay 0 for the whole run. A custom_hooks list in a '
        'child config or in --cfg-options replaces the base config\'s list '
        "(which holds it): add dict(type='LatentAugScheduleHook') to "
        'custom_hooks, or set model.neck.aug_loss=None for no latent '
        'augmentation.')


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
        return [m for m in _unwrapped(runner.model).modules()
                if isinstance(m, LatentISDALoss)]

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
