"""Stop training at the first NaN / Inf loss, naming the iteration and term.

Without it a diverged run keeps going: every later loss and weight is NaN,
the checkpoints written from then on are useless, and the log shows only
``loss: nan``. :class:`NonFiniteLossHook` looks at the logged loss terms of
every iteration (``outputs`` of ``train_step``: ``loss``, ``loss_recon``,
``loss_latent_aug``, ...) and raises ``FloatingPointError`` at the first
non-finite one, before the next checkpoint is written, with the last
checkpoint (saved before the divergence) in the message.
"""
import math
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner.checkpoint import find_latest_checkpoint
from mmpretrain.registry import HOOKS


def non_finite_terms(outputs: Optional[Dict]) -> List[str]:
    """``['name=value', ...]`` of the loss terms of ``outputs`` that are
    NaN or ±Inf (tensor entries with any non-finite element count)."""
    bad = []
    for name, value in (outputs or {}).items():
        if not name.startswith('loss'):
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if value.numel() == 0 or bool(torch.isfinite(value).all()):
                continue
            shown = (value.item() if value.numel() == 1 else
                     value[~torch.isfinite(value)].flatten()[0].item())
        elif isinstance(value, (int, float)):
            if math.isfinite(value):
                continue
            shown = value
        else:
            continue
        bad.append(f'{name}={shown}')
    return bad


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` when a loss term is NaN or infinite.

    The check runs after every training iteration, before the checkpoint
    hook (priority ``ABOVE_NORMAL``), so no checkpoint with NaN weights is
    saved at the end of that epoch. The message gives the iteration
    (1-based, as in the log: ``Epoch(train) [epoch][iter/len]``), the
    non-finite terms and the last saved checkpoint.
    """

    priority = 'ABOVE_NORMAL'

    @staticmethod
    def _last_checkpoint(runner) -> Optional[str]:
        folders = [getattr(h, 'out_dir', None) for h in runner.hooks
                   if isinstance(h, CheckpointHook)]
        for folder in [f for f in folders if isinstance(f, str)] + [
                runner.work_dir]:
            if not osp.isfile(osp.join(folder, 'last_checkpoint')):
                continue  # (find_latest_checkpoint would log a warning)
            path = find_latest_checkpoint(folder)
            if path is not None and osp.isfile(path):
                return path
        return None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        bad = non_finite_terms(outputs)
        if not bad:
            return
        loader = runner.train_loop.dataloader
        try:
            per_epoch = f'/{len(loader)}'
        except TypeError:
            per_epoch = ''
        ckpt = self._last_checkpoint(runner)
        if ckpt is None:
            resume = ('no checkpoint was saved before it, so the run has '
                      'to start again')
        else:
            resume = (f'the last checkpoint {ckpt} was saved before it and '
                      f'is resumable (--resume {ckpt}), or start a new run '
                      f'from its weights with --cfg-options load_from={ckpt} '
                      '(resuming restores the old learning-rate schedule)')
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}{per_epoch}): '
            f"{', '.join(bad)}; training stopped. {resume[0].upper()}"
            f'{resume[1:]}. Lower the learning rate '
            '(optim_wrapper.optimizer.lr), clip gradients '
            '(optim_wrapper.clip_grad=dict(max_norm=...)) or check the data '
            'and loss weights.')
