"""EpochSeedHook: each epoch's random streams depend on (seed, epoch, rank)
only, so a resumed run draws what the uninterrupted run drew."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lcreg.engine.hooks import EpochSeedHook
from lcreg.engine.hooks import epoch_seed_hook
from lcreg.engine.hooks.epoch_seed_hook import _seed_worker, epoch_seed


def _runner(seed=0, epoch=0, num_workers=0, persistent=False):
    loader = SimpleNamespace(num_workers=num_workers,
                             persistent_workers=persistent,
                             worker_init_fn=None)
    return SimpleNamespace(seed=seed, epoch=epoch,
                           train_loop=SimpleNamespace(dataloader=loader))


def _draw():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_same_epoch_same_draws_whatever_ran_before():
    hook = EpochSeedHook()
    hook.before_train_epoch(_runner(epoch=3))
    first = _draw()
    _draw(), np.random.rand(100), torch.randn(50)  # other history
    hook.before_train_epoch(_runner(epoch=3))
    assert _draw() == first
    hook.before_train_epoch(_runner(epoch=4))
    assert _draw() != first
    hook.before_train_epoch(_runner(seed=1, epoch=3))
    assert _draw() != first


def test_epoch_seed_mixes_its_inputs():
    seeds = {epoch_seed(s, e, r) for s in range(3) for e in range(3)
             for r in range(2)}
    assert len(seeds) == 18  # seed + epoch would collide
    assert epoch_seed(0, 1, 0) != epoch_seed(1, 0, 0)
    assert epoch_seed(0, 0, 0, worker_id=0) != epoch_seed(0, 0, 0)
    assert epoch_seed(5, 2, 1) == epoch_seed(5, 2, 1)
    assert 0 <= epoch_seed(2**40, 7, 3) < 2**32


def test_explicit_seed_overrides_the_runner():
    EpochSeedHook(seed=7).before_train_epoch(_runner(seed=0, epoch=2))
    a = _draw()
    EpochSeedHook().before_train_epoch(_runner(seed=7, epoch=2))
    assert _draw() == a
    with pytest.raises(ValueError, match='seed must be an int or None'):
        EpochSeedHook(seed='0')


def test_non_persistent_workers_seeded_per_epoch():
    runner = _runner(seed=3, epoch=5, num_workers=2)
    EpochSeedHook().before_train_epoch(runner)
    init = runner.train_loop.dataloader.worker_init_fn
    init(1)
    a = _draw()
    _seed_worker(1, seed=3, epoch=5, rank=0)
    assert _draw() == a
    init(0)
    assert _draw() != a


def test_persistent_workers_warn_once(monkeypatch):
    logged = []
    monkeypatch.setattr(epoch_seed_hook, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    hook = EpochSeedHook()
    runner = _runner(num_workers=2, persistent=True)
    hook.before_train_epoch(runner)
    hook.before_train_epoch(runner)
    assert len(logged) == 1
    assert logged[0].startswith('EpochSeedHook: persistent dataloader '
                                'workers keep their own random state')
    assert runner.train_loop.dataloader.worker_init_fn is None


def _train_then_resume(tmp_path, *options):
    """The tiny run (RandomCrop in the loader, mixup, stage 2 from epoch
    2), uninterrupted and resumed from its epoch-1 checkpoint (inside stage
    1: the loader, not rebuilt at the switch, has run one epoch): the two
    final ``state_dict``s."""
    from fixtures.tool_runs import TINY_CONFIG, run_in_process
    from lcreg.engine.runner.safe_checkpoint import load_checkpoint_file
    full, resumed = tmp_path / 'full', tmp_path / 'resumed'
    assert run_in_process('train', TINY_CONFIG, '--work-dir', full,
                          '--no-validate', '--cfg-options', *options) == 0
    assert run_in_process('train', TINY_CONFIG, '--work-dir', resumed,
                          '--no-validate', '--resume', full / 'epoch_1.pth',
                          '--cfg-options', *options) == 0
    ends = [load_checkpoint_file(str(d / 'epoch_4.pth'), map_location='cpu')
            for d in (full, resumed)]
    assert ends[0]['meta']['epoch'] == ends[1]['meta']['epoch'] == 4
    return [end['state_dict'] for end in ends]


WORKERS = ['train_dataloader.num_workers=2',
           '+train_dataloader.persistent_workers={persistent}']


def test_resume_with_non_persistent_workers_is_bit_identical(tmp_path):
    """The scope the README states: with 2 loader workers that are not
    persistent (seeded afresh every epoch), the resumed run ends with the
    uninterrupted run's weights and BN statistics, bit for bit."""
    full, resumed = _train_then_resume(
        tmp_path, *[w.format(persistent=False) for w in WORKERS])
    for key, value in full.items():
        assert torch.equal(value, resumed[key]), key


def test_resume_with_persistent_workers_is_not_bit_identical(tmp_path):
    """Outside that scope, as the README says: persistent workers restart
    their random streams at the resume, so the augmentations, and the
    weights, differ (the hook warns)."""
    full, resumed = _train_then_resume(
        tmp_path, *[w.format(persistent=True) for w in WORKERS])
    assert not all(torch.equal(v, resumed[k]) for k, v in full.items())
