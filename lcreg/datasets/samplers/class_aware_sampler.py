"""Class-aware sampling (the stage-2 sampler of decoupling / MiSLAS).

The module also holds :class:`BaseClassSampler`, the small base class that the
class-level samplers of :mod:`lcreg.datasets.samplers.balanced_samplers` share:
it reads the labels of a dataset, seeds one generator per epoch and cuts the
global index sequence into equal, disjoint per-rank shards.
"""
import math
from typing import Iterator, List, Optional, Sized

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


def dataset_labels(dataset: Sized) -> np.ndarray:
    """Single-label class ids of every sample of ``dataset``.

    Uses ``dataset.get_gt_labels()`` when it exists (one call, MMPretrain
    datasets), else ``dataset.get_cat_ids(i)`` for every index (dataset
    wrappers).

    Returns:
        np.ndarray: int64 array of shape ``(len(dataset),)``.
    """
    name = type(dataset).__name__
    if hasattr(dataset, 'get_gt_labels'):
        raw = dataset.get_gt_labels()
        source = f'{name}.get_gt_labels()'
    elif hasattr(dataset, 'get_cat_ids'):
        raw = [dataset.get_cat_ids(i) for i in range(len(dataset))]
        if any(len(ids) != 1 for ids in raw):
            raise ValueError(
                f'{name}.get_cat_ids(i) returned a number of class ids other '
                'than one for some sample: class-level samplers need a '
                'single-label dataset.')
        raw = [ids[0] for ids in raw]
        source = f'{name}.get_cat_ids(i)'
    else:
        raise TypeError(
            f'{name} has neither get_gt_labels() nor get_cat_ids(idx): a '
            'class-level sampler needs the label of every sample. Use an '
            'MMPretrain dataset or add one of these methods.')
    try:
        labels = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f'{source} did not return one integer class id per sample '
            f'(multi-label dataset?): {err}') from err
    if labels.ndim != 1 or labels.shape[0] != len(dataset):
        raise ValueError(
            f'{source} returned labels of shape {labels.shape}; expected '
            f'({len(dataset)},), one integer class id per sample (class-level '
            'samplers need a single-label dataset).')
    return labels


class BaseClassSampler(Sampler):
    """Base of samplers that first pick a class per slot, then an image of it.

    Every epoch one global sequence of ``total_size`` dataset indices is drawn
    from a ``torch.Generator`` seeded with ``seed + epoch`` (the same on every
    rank), and rank ``r`` yields positions ``r, r + world_size, ...`` of it.
    ``total_size = ceil(num_samples / world_size) * world_size``, so every rank
    yields the same number of indices and the shards are disjoint.

    Subclasses implement :meth:`_slot_classes`, the class of every slot of the
    global sequence. The image for the ``k``-th slot of class ``c`` is the
    ``k``-th element of the cycle of class ``c``: its indices in a random
    order, reshuffled each time they are exhausted (the cycles restart every
    epoch, so an epoch depends only on ``seed`` and ``epoch``).

    Args:
        dataset (Sized): a single-label dataset with ``get_gt_labels()`` or
            ``get_cat_ids(idx)``. The number of classes is
            ``len(metainfo['class_counts'])``, else
            ``len(metainfo['classes'])``, else ``max(label) + 1``. Classes
            without samples are never drawn.
        num_samples (int, optional): global length of an epoch (over all
            ranks). Defaults to ``len(dataset)``.
        seed (int, optional): base seed, identical on all ranks. ``None``
            draws one and synchronises it across ranks (MMEngine passes the
            experiment seed).
        rank (int, optional): rank of this process. Defaults to MMEngine's
            ``get_dist_info()``.
        world_size (int, optional): number of processes. Defaults to
            MMEngine's ``get_dist_info()``.
    """

    def __init__(self,
                 dataset: Sized,
                 num_samples: Optional[int] = None,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        cls_name = type(self).__name__
        dist_rank, dist_world_size = get_dist_info()
        rank = dist_rank if rank is None else rank
        world_size = dist_world_size if world_size is None else world_size
        if not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f'{cls_name}: world_size={world_size!r} must be '
                             'a positive integer.')
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f'{cls_name}: rank={rank!r} must be an integer '
                             f'in [0, world_size={world_size}).')
        self.rank = rank
        self.world_size = world_size
        self.dataset = dataset

        labels = dataset_labels(dataset)
        if labels.size == 0:
            raise ValueError(
                f'{cls_name}: the dataset {type(dataset).__name__} is empty, '
                'so every class has zero samples and there is nothing to '
                'sample. Check the dataset config (data_root / ann_file).')
        self.num_classes = self._num_classes(dataset, labels)
        bad = np.flatnonzero((labels < 0) | (labels >= self.num_classes))
        if bad.size:
            raise ValueError(
                f'{cls_name}: sample index {int(bad[0])} has label '
                f'{int(labels[bad[0]])}, outside [0, {self.num_classes}) '
                "(number of classes from the dataset's metainfo).")
        order = np.argsort(labels, kind='stable')
        counts = np.bincount(labels, minlength=self.num_classes)
        #: number of samples of every class, shape (num_classes,)
        self.class_counts = torch.from_numpy(counts)
        #: dataset indices sorted by class; class c occupies
        #: sorted_indices[class_offsets[c]: class_offsets[c] + counts[c]]
        self.sorted_indices = torch.from_numpy(order)
        self.class_offsets = torch.from_numpy(
            np.concatenate([[0], np.cumsum(counts)[:-1]]))
        #: ids of the classes that have at least one sample
        self.nonempty_classes = torch.from_numpy(np.flatnonzero(counts))

        if num_samples is None:
            num_samples = len(dataset)
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f'{cls_name}: num_samples={num_samples!r} must '
                             'be a positive integer (global epoch length).')
        self.num_samples = num_samples
        self.num_samples_per_rank = math.ceil(num_samples / world_size)
        self.total_size = self.num_samples_per_rank * world_size

        if seed is None:
            seed = sync_random_seed()
        self.seed = int(seed)
        self.epoch = 0

    @staticmethod
    def _num_classes(dataset: Sized, labels: np.ndarray) -> int:
        metainfo = getattr(dataset, 'metainfo', None) or {}
        if metainfo.get('class_counts') is not None:
            return len(metainfo['class_counts'])
        if metainfo.get('classes') is not None:
            return len(metainfo['classes'])
        return int(labels.max()) + 1

    def _slot_classes(self, generator: torch.Generator,
                      length: int) -> torch.Tensor:
        """Class id of every slot of the global sequence, shape (length,)."""
        raise NotImplementedError

    def _fill_slots(self, slot_classes: torch.Tensor,
                    generator: torch.Generator) -> torch.Tensor:
        """Dataset index of every slot from the per-class reshuffled cycles.

        Args:
            slot_classes (Tensor): int64 class ids, shape (L,).

        Returns:
            Tensor: int64 dataset indices, shape (L,).
        """
        indices = torch.empty_like(slot_classes)
        # slots grouped by class, each group in sequence order
        slots_by_class = torch.argsort(slot_classes, stable=True)
        slots_per_class = torch.bincount(
            slot_classes, minlength=self.num_classes).tolist()
        start = 0
        for c, m in enumerate(slots_per_class):
            if m == 0:
                continue
            slots = slots_by_class[start:start + m]
            start += m
            n_c = int(self.class_counts[c])
            # one independent random permutation of the class per round
            cycle = torch.rand(
                math.ceil(m / n_c), n_c, generator=generator).argsort(dim=1)
            indices[slots] = self.sorted_indices[self.class_offsets[c] +
                                                 cycle.flatten()[:m]]
        return indices

    def global_indices(self) -> List[int]:
        """The epoch's global sequence, ``total_size`` indices (all ranks)."""
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        slot_classes = self._slot_classes(generator, self.total_size)
        return self._fill_slots(slot_classes, generator).tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_indices()[self.rank::self.world_size])

    def __len__(self) -> int:
        """Number of indices yielded on this rank."""
        return self.num_samples_per_rank

    def set_epoch(self, epoch: int) -> None:
        """Reseed for ``epoch`` (called by MMEngine's DistSamplerSeedHook)."""
        self.epoch = epoch


@DATA_SAMPLERS.register_module()
class ClassAwareSampler(BaseClassSampler):
    """Class-aware sampler (Shen et al. 2016; decoupling, MiSLAS stage 2).

    Classes are visited in a random order, reshuffled each time every
    non-empty class has been visited once; each visit takes
    ``num_samples_cls`` consecutive samples from that class's cycle (its
    indices in random order, reshuffled when exhausted). Over an epoch the
    number of samples of any two classes differs by at most
    ``num_samples_cls``.

    Args:
        dataset (Sized): single-label dataset (see :class:`BaseClassSampler`).
        num_samples_cls (int): consecutive samples per class visit.
            Defaults to 1 (MiSLAS uses 4).
        num_samples (int, optional): global epoch length.
            Defaults to ``len(dataset)``, the length of a MiSLAS stage-2
            epoch (its training loop stops the class-aware loader after
            ``ceil(len(dataset) / batch_size)`` batches; the sampler of
            decoupling alone would run ``max(class_counts) · num_classes``
            samples, e.g. 11× more on ImageNet-LT).
        seed, rank, world_size: see :class:`BaseClassSampler`.
    """

    def __init__(self,
                 dataset: Sized,
                 num_samples_cls: int = 1,
                 num_samples: Optional[int] = None,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        if not isinstance(num_samples_cls, int) or num_samples_cls < 1:
            raise ValueError(
                f'ClassAwareSampler: num_samples_cls={num_samples_cls!r} '
                'must be a positive integer.')
        self.num_samples_cls = num_samples_cls
        super().__init__(dataset, num_samples=num_samples, seed=seed,
                         rank=rank, world_size=world_size)

    def _slot_classes(self, generator: torch.Generator,
                      length: int) -> torch.Tensor:
        classes = self.nonempty_classes
        visits = math.ceil(length / self.num_samples_cls)
        rounds = math.ceil(visits / len(classes))
        # one random order of the classes per round of visits
        order = torch.rand(rounds, len(classes), generator=generator)
        visit_classes = classes[order.argsort(dim=1).flatten()[:visits]]
        return visit_classes.repeat_interleave(self.num_samples_cls)[:length]
