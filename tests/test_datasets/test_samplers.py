"""Tests of the class-aware, square-root and progressively-balanced
samplers."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

import lcreg  # noqa: F401  (registration)
from lcreg.datasets.samplers import (ClassAwareSampler,
                                     ProgressivelyBalancedSampler,
                                     SquareRootSampler)


class LabelDataset:
    """Tiny single-label dataset with MMPretrain's label accessors."""

    def __init__(self, counts, with_gt_labels=True):
        self.labels = np.repeat(np.arange(len(counts)), counts)
        # a fixed shuffle so that class c does not occupy a contiguous range
        self.labels = self.labels[np.random.RandomState(0).permutation(
            len(self.labels))]
        self.metainfo = dict(class_counts=list(counts))
        if with_gt_labels:
            self.get_gt_labels = lambda: self.labels.copy()

    def __len__(self):
        return len(self.labels)

    def get_cat_ids(self, idx):
        return [int(self.labels[idx])]

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([float(self.labels[idx])]),
                    data_samples=int(self.labels[idx]))


COUNTS = [40, 12, 5, 2, 1]


def histogram(dataset, indices):
    return np.bincount(dataset.labels[indices], minlength=len(COUNTS))


def test_class_aware_balanced_histogram_and_length():
    dataset = LabelDataset(COUNTS)
    sampler = ClassAwareSampler(dataset, num_samples_cls=4, seed=0,
                                rank=0, world_size=1)
    indices = list(sampler)
    assert len(sampler) == len(dataset) == len(indices) == 60
    hist = histogram(dataset, indices)
    assert (hist > 0).all()
    assert hist.max() - hist.min() <= 4
    # an instance-balanced epoch would give 40 samples to class 0
    assert hist[0] <= 16

    sampler = ClassAwareSampler(dataset, num_samples_cls=4, num_samples=101,
                                seed=0, rank=0, world_size=1)
    assert len(sampler) == len(list(sampler)) == 101


def test_class_aware_visit_structure():
    """Blocks of num_samples_cls from one class; rounds visit every class
    once; each class's images are cycled through before any repeats."""
    dataset = LabelDataset(COUNTS)
    k = 4
    sampler = ClassAwareSampler(dataset, num_samples_cls=k, num_samples=400,
                                seed=3, rank=0, world_size=1)
    indices = np.array(list(sampler))
    labels = dataset.labels[indices]
    blocks = labels.reshape(-1, k)
    assert (blocks == blocks[:, :1]).all()
    visits = blocks[:, 0]
    rounds = visits.reshape(-1, len(COUNTS))
    for r in rounds:
        assert sorted(r) == list(range(len(COUNTS)))
    # the order of classes is reshuffled between rounds
    assert len({tuple(r) for r in rounds}) > 1
    # class 1 (12 images): every 12 consecutive draws are a permutation
    drawn = indices[labels == 1]
    members = sorted(np.flatnonzero(dataset.labels == 1))
    for start in range(0, len(drawn) - 11, 12):
        assert sorted(drawn[start:start + 12]) == members
    assert len({tuple(drawn[s:s + 12]) for s in (0, 12, 24)}) > 1


def test_class_aware_ranks_shard_global_sequence():
    dataset = LabelDataset(COUNTS)
    kwargs = dict(num_samples_cls=4, num_samples=61, seed=7, world_size=2)
    rank0 = ClassAwareSampler(dataset, rank=0, **kwargs)
    rank1 = ClassAwareSampler(dataset, rank=1, **kwargs)
    shard0, shard1 = list(rank0), list(rank1)
    assert len(rank0) == len(rank1) == len(shard0) == len(shard1) == 31
    global_seq = rank0.global_indices()
    assert global_seq == rank1.global_indices()
    assert len(global_seq) == 62
    merged = [None] * 62
    merged[0::2], merged[1::2] = shard0, shard1
    assert merged == global_seq
    assert shard0 != shard1


def test_class_aware_seed_and_epoch():
    dataset = LabelDataset(COUNTS)

    def order(seed, epoch):
        sampler = ClassAwareSampler(dataset, num_samples_cls=2, seed=seed,
                                    rank=0, world_size=1)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(5, 0) == order(5, 0)
    assert order(5, 1) == order(5, 1)
    assert order(5, 0) != order(5, 1)
    assert order(5, 0) != order(6, 0)


def test_cat_ids_path_matches_gt_labels_path():
    fast = ClassAwareSampler(LabelDataset(COUNTS), num_samples_cls=4, seed=1,
                             rank=0, world_size=1)
    slow = ClassAwareSampler(LabelDataset(COUNTS, with_gt_labels=False),
                             num_samples_cls=4, seed=1, rank=0, world_size=1)
    assert list(fast) == list(slow)


def test_empty_classes_skipped_and_all_empty_raises():
    dataset = LabelDataset([6, 0, 3, 0])
    for sampler in (
            ClassAwareSampler(dataset, num_samples_cls=2, num_samples=50,
                              seed=0, rank=0, world_size=1),
            SquareRootSampler(dataset, num_samples=50, seed=0, rank=0,
                              world_size=1),
            ProgressivelyBalancedSampler(dataset, total_epochs=2,
                                         num_samples=50, seed=0, rank=0,
                                         world_size=1)):
        sampler.set_epoch(1)
        hist = np.bincount(dataset.labels[list(sampler)], minlength=4)
        assert hist[1] == hist[3] == 0 and hist[0] > 0 and hist[2] > 0
    with pytest.raises(ValueError, match='empty'):
        ClassAwareSampler(LabelDataset([0, 0]), seed=0, rank=0, world_size=1)


def test_argument_errors():
    dataset = LabelDataset(COUNTS)
    with pytest.raises(ValueError, match='num_samples_cls'):
        ClassAwareSampler(dataset, num_samples_cls=0, seed=0)
    with pytest.raises(ValueError, match='rank'):
        ClassAwareSampler(dataset, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match='num_samples'):
        SquareRootSampler(dataset, num_samples=0, seed=0)
    with pytest.raises(ValueError, match='total_epochs'):
        ProgressivelyBalancedSampler(dataset, total_epochs=0, seed=0)
    bad = LabelDataset([3, 3])
    bad.metainfo = dict(class_counts=[3])
    with pytest.raises(ValueError, match='outside'):
        SquareRootSampler(bad, seed=0)


def test_square_root_probabilities():
    dataset = LabelDataset([16, 4, 1])
    sampler = SquareRootSampler(dataset, num_samples=70000, seed=0, rank=0,
                                world_size=1)
    expected = torch.tensor([4 / 7, 2 / 7, 1 / 7], dtype=torch.float64)
    assert torch.allclose(sampler.probabilities(), expected)
    freq = np.bincount(dataset.labels[list(sampler)]) / 70000
    assert np.abs(freq - expected.numpy()).max() < 0.01
    # within a class every image is drawn about equally often
    per_image = np.bincount(list(sampler), minlength=21)
    class0 = per_image[dataset.labels == 0]
    assert class0.min() >= 0.9 * class0.mean()


def test_progressive_probabilities():
    dataset = LabelDataset([16, 4, 1])
    sampler = ProgressivelyBalancedSampler(dataset, total_epochs=4,
                                           num_samples=60000, seed=0,
                                           rank=0, world_size=1)
    p_ib = np.array([16, 4, 1]) / 21
    p_cb = np.full(3, 1 / 3)
    for epoch, expected in ((0, p_ib), (1, 0.75 * p_ib + 0.25 * p_cb),
                            (2, 0.5 * p_ib + 0.5 * p_cb), (4, p_cb),
                            (6, p_cb)):
        sampler.set_epoch(epoch)
        assert np.allclose(sampler.probabilities().numpy(), expected)
    sampler.set_epoch(1)
    freq = np.bincount(dataset.labels[list(sampler)]) / 60000
    assert np.abs(freq - (0.75 * p_ib + 0.25 * p_cb)).max() < 0.01


def test_probability_sampler_sharding_and_seed():
    dataset = LabelDataset(COUNTS)
    kwargs = dict(num_samples=25, seed=4, world_size=2)
    rank0 = SquareRootSampler(dataset, rank=0, **kwargs)
    rank1 = SquareRootSampler(dataset, rank=1, **kwargs)
    merged = [None] * 26
    merged[0::2], merged[1::2] = list(rank0), list(rank1)
    assert len(rank0) == len(rank1) == 13
    assert merged == rank0.global_indices()
    before = list(rank0)
    rank0.set_epoch(1)
    assert list(rank0) != before


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        return dict(loss=self.fc(x).pow(2).mean())


def test_builds_in_mmengine_runner_and_epoch_is_set(tmp_path):
    dataset = LabelDataset(COUNTS)
    runner = Runner(
        model=TinyModel(),
        work_dir=str(tmp_path),
        default_scope='mmpretrain',
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='ClassAwareSampler', num_samples_cls=4),
            batch_size=8,
            num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        randomness=dict(seed=11),
        default_hooks=dict(logger=None, checkpoint=None),
    )
    sampler = runner.train_dataloader.sampler
    assert isinstance(sampler, ClassAwareSampler)
    assert sampler.num_samples_cls == 4
    assert sampler.seed == 11
    assert len(runner.train_dataloader) == math.ceil(60 / 8)
    runner.train()
    assert sampler.epoch == 1  # DistSamplerSeedHook called set_epoch
