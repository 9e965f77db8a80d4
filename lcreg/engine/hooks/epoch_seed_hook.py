"""Re-seed the random generators at every training epoch (resumable runs).

MMEngine seeds Python's ``random``, numpy and torch once, when the Runner
is built. A run resumed from the checkpoint of epoch ``e`` therefore draws
different random numbers in epoch ``e + 1`` (random crops, mixup's λ and
permutation, ...) than the uninterrupted run did, and ends with different
weights. :class:`EpochSeedHook` re-seeds the three generators at the start
of every training epoch from ``(seed, epoch, rank)``, so each epoch's random
stream depends only on those three numbers, not on what ran before: a
resumed run repeats the uninterrupted one exactly (bit for bit with
``randomness=dict(seed=..., deterministic=True)`` on the same hardware).

Dataloader workers: with ``num_workers > 0`` and non-persistent workers,
each epoch's workers are seeded from ``(seed, epoch, rank, worker_id)``.
Persistent workers keep their random state across epochs and restart it on
resume, so a run resumed inside a stage then differs in its augmentations
(tests/test_engine/test_epoch_seed_hook.py shows both cases); the hook warns
once. Use ``persistent_workers=False`` (or 0 workers) where the exact
repetition matters.
"""
import functools
import logging
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

_SALT = 0x4C435247  # 'LCRG'


def epoch_seed(seed: int, epoch: int, rank: int, worker_id: int = -1) -> int:
    """A 32-bit seed mixed from the run seed, epoch, rank (and worker).

    numpy's ``SeedSequence`` hashes the entropy words, so neighbouring
    epochs or ranks give unrelated streams (``seed + epoch`` would give
    epoch ``e`` of seed ``s`` the stream of epoch ``e - 1`` of ``s + 1``).
    """
    # Fixed length, and a non-zero last word: SeedSequence gives entropy
    # lists that differ only by trailing zeros the same state.
    words = [int(seed) % 2**32, int(epoch), int(rank), int(worker_id) + 1,
             _SALT]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def shared_seed(runner) -> int:
    """The run's seed as every rank knows it: ``runner.seed`` less the rank
    that ``randomness.diff_rank_seed=True`` added to it. Whatever must agree
    across ranks (a sampler's global order, a re-drawn classifier) is seeded
    from this."""
    seed = runner.seed
    if (getattr(runner, '_randomness_cfg', None) or {}).get('diff_rank_seed'):
        seed -= get_rank()
    return seed


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int, seed: int, epoch: int, rank: int) -> None:
    """``worker_init_fn`` of one epoch's dataloader workers."""
    seed_everything(epoch_seed(seed, epoch, rank, worker_id))


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, numpy and torch from (seed, epoch, rank) per epoch.

    Runs first in ``before_train_epoch`` (priority ``VERY_HIGH``), so the
    data loader, the augmentations and the model's random operations of
    epoch ``e`` see the same generator states whether the run started at
    epoch 0 or was resumed at epoch ``e``. ``seed`` is the run's seed
    (``randomness.seed``, or the one MMEngine drew and stored in the
    checkpoint when it is None).

    Args:
        seed (int, optional): seed to use instead of the runner's.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool)
                                 or not isinstance(seed, int)):
            raise ValueError(f'EpochSeedHook: seed must be an int or None, '
                             f'got {seed!r}.')
        self.seed = seed
        self._warned_persistent = False

    def before_train_epoch(self, runner) -> None:
        seed = self.seed if self.seed is not None else runner.seed
        epoch, rank = runner.epoch, get_rank()
        seed_everything(epoch_seed(seed, epoch, rank))
        loader = runner.train_loop.dataloader
        if getattr(loader, 'num_workers', 0) > 0:
            if loader.persistent_workers:
                if not self._warned_persistent:
                    print_log(
                        'EpochSeedHook: persistent dataloader workers keep '
                        'their own random state, so a resumed run draws '
                        'other augmentations than an uninterrupted one; set '
                        'train_dataloader.persistent_workers=False for '
                        'exactly repeatable epochs.', logger='current',
                        level=logging.WARNING)
                    self._warned_persistent = True
            else:
                loader.worker_init_fn = functools.partial(
                    _seed_worker, seed=seed, epoch=epoch, rank=rank)
