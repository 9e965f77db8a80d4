"""Log the total batch and the learning rates once, before training starts.

``train_dataloader.batch_size`` is per process (MMPretrain's convention):
the large-scale recipes set 32, so ``tools/dist_train.sh CONFIG 8`` trains
the recipes' total batch of 256 at their lr. The lrs of a config are those
of ``auto_scale_lr.base_batch_size``; with ``auto_scale_lr.enable=True``
(``tools/train.py --auto-scale-lr``) MMEngine rescales them linearly to the
actual total batch. :class:`TotalBatchLogHook` writes one line that says
which of the two a run does, e.g.::

    total batch: 8 processes × 32 per process = 256 (the lrs are for 256);
    lr not rescaled (auto_scale_lr off): representation 0.1, classifier 0.1,
    scale 0.1

(one line in the log). A total batch other than ``base_batch_size`` whose
lrs were not rescaled is logged as a warning that names ``--auto-scale-lr``
and the per-process batch that would give the recipe's total.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def per_process_batch_size(runner) -> int:
    """``train_dataloader.batch_size`` of the run (built loader or dict)."""
    loader = runner._train_dataloader
    return loader['batch_size'] if isinstance(loader, dict) else \
        loader.batch_size


def auto_scale_lr_ratio(runner, batch_size: int) -> Optional[float]:
    """The factor MMEngine's ``Runner.scale_lr`` applies to every lr,
    ``world_size · batch_size / auto_scale_lr.base_batch_size``, or None
    when ``auto_scale_lr`` is off (lrs not rescaled)."""
    auto = runner.auto_scale_lr
    if not auto or not auto.get('enable', False):
        return None
    return runner.world_size * batch_size / auto['base_batch_size']


@HOOKS.register_module()
class TotalBatchLogHook(Hook):
    """One log line before the first iteration: processes × per-process
    batch = total batch, the recipe's batch (``auto_scale_lr``), the base
    lr of every parameter group (``initial_lr``: after ``auto_scale_lr``,
    before warm-up) and whether it was rescaled."""

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        batch = per_process_batch_size(runner)
        world = runner.world_size
        total = world * batch
        base = (runner.auto_scale_lr or {}).get('base_batch_size')
        ratio = auto_scale_lr_ratio(runner, batch)
        groups = runner.optim_wrapper.optimizer.param_groups
        lrs = ', '.join(
            f"{g.get('name', i)} {g.get('initial_lr', g['lr']):.6g}"
            for i, g in enumerate(groups))
        recipe = f' (the lrs are for {base})' if base else ''
        if ratio is None:
            scaled = 'lr not rescaled (auto_scale_lr off)'
        else:
            scaled = f'lr rescaled ×{ratio:.6g} ({total} / {base})'
        line = (f'total batch: {world} processes × {batch} per process = '
                f'{total}{recipe}; {scaled}: {lrs}')
        if ratio is None and base and total != base:
            fit = (f'train_dataloader.batch_size={base // world}'
                   if base % world == 0 else
                   f'a per-process batch of {base} / processes')
            runner.logger.warning(
                f'{line}. The total batch is not the {base} the lrs are '
                'for: add --auto-scale-lr (auto_scale_lr.enable=True) to '
                f'rescale them, or set {fit}.')
        else:
            runner.logger.info(line)
