"""Long-tailed subsets of balanced datasets, selected as LDAM-DRW does.

The long-tailed CIFAR benchmarks of LDAM-DRW (Cao et al., 2019), reused by
MiSLAS and LCReg, keep ``n_c`` training images of class ``c``:

* ``'exp'``:  ``n_c = int(n_max * (1 / IF) ** (c / (C - 1)))``
* ``'step'``: ``n_c = n_max`` for the first ``C // 2`` classes and
  ``int(n_max * (1 / IF))`` for the others,

with ``IF`` the imbalance factor (largest class / smallest class) and
``n_max`` the per-class size of the balanced set. The images are chosen by
one ``numpy.random.RandomState(seed)``: for ``c = 0 .. C-1`` in label order,
the indices of class ``c`` (in dataset order) are shuffled with it and the
first ``n_c`` are kept. The subset lists class 0's kept images first (in
their shuffled order), then class 1's, and so on.

:class:`LongTailed` applies this to any single-label MMPretrain dataset.
"""
import copy
import math
from numbers import Real
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

IMBALANCE_TYPES = ('exp', 'step')


def check_imbalance_args(imbalance_factor, imbalance_type='exp', seed=0,
                         owner: str = 'long-tailed profile') -> None:
    """Raise one clear ``ValueError`` for a bad imbalance setting.

    Args:
        imbalance_factor: largest class size over smallest class size; must
            be a number >= 1 (1 keeps the balanced data).
        imbalance_type: ``'exp'`` or ``'step'``.
        seed: seed of the selection, an integer in ``[0, 2**32)``.
        owner (str): name put in front of the message (e.g. the class).
    """
    if (isinstance(imbalance_factor, bool)
            or not isinstance(imbalance_factor, Real)
            or not math.isfinite(imbalance_factor)):
        raise ValueError(
            f'{owner}: imbalance_factor must be a finite number >= 1 (size '
            f'of the largest class / size of the smallest, e.g. 100), got '
            f'{imbalance_factor!r}.')
    if imbalance_factor < 1:
        hint = ''
        if imbalance_factor > 0:
            hint = (f' LDAM-DRW/MiSLAS configs write the inverse '
                    f'(imb_factor={imbalance_factor:g}); here that is '
                    f'imbalance_factor={1 / imbalance_factor:g}.')
        raise ValueError(
            f'{owner}: imbalance_factor must be >= 1 (size of the largest '
            f'class / size of the smallest, e.g. 100; 1 keeps the balanced '
            f'data), got {imbalance_factor!r}.{hint}')
    if imbalance_type not in IMBALANCE_TYPES:
        raise ValueError(
            f'{owner}: imbalance_type must be one of {IMBALANCE_TYPES}, got '
            f'{imbalance_type!r}.')
    if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
            or not 0 <= seed < 2**32):
        raise ValueError(
            f'{owner}: seed must be an integer in [0, 2**32), got {seed!r}.')


def long_tailed_counts(n_max: int,
                       num_classes: int,
                       imbalance_factor: float,
                       imbalance_type: str = 'exp') -> List[int]:
    """Per-class image counts of the LDAM-DRW long-tailed profile.

    Args:
        n_max (int): images of the largest (first) class.
        num_classes (int): number of classes ``C``.
        imbalance_factor (float): ``IF = n_max / n_min`` (>= 1).
        imbalance_type (str): ``'exp'`` or ``'step'``.

    Returns:
        list[int]: ``C`` counts, index = label. Example: ``(5000, 10, 100)``
        gives 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50.
    """
    check_imbalance_args(imbalance_factor, imbalance_type)
    if int(n_max) != n_max or n_max < 1:
        raise ValueError(f'n_max must be a positive integer, got {n_max!r}.')
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(
            f'num_classes must be a positive integer, got {num_classes!r}.')
    n_max, num_classes = int(n_max), int(num_classes)
    # The same float expressions as LDAM-DRW (``img_max * imb_factor ** ...``
    # with ``imb_factor = 1 / IF``) so that int() truncates identically.
    ratio = 1.0 / imbalance_factor
    if imbalance_type == 'step':
        half = num_classes // 2
        return [n_max] * half + [int(n_max * ratio)] * (num_classes - half)
    if num_classes == 1:
        return [n_max]
    return [
        int(n_max * ratio**(c / (num_classes - 1.0)))
        for c in range(num_classes)
    ]


def long_tailed_indices(labels: Sequence[int],
                        class_counts: Sequence[int],
                        seed: int = 0) -> np.ndarray:
    """Indices of the images LDAM-DRW keeps for the given per-class counts.

    One ``numpy.random.RandomState(seed)``; for ``c = 0 .. C-1``: shuffle
    the indices of class ``c`` (in dataset order) with it, keep the first
    ``class_counts[c]``. The global numpy random state is not touched.

    Args:
        labels (sequence[int]): label of every image, shape ``(N,)``.
        class_counts (sequence[int]): images to keep per class, ``(C,)``.
        seed (int): seed of the ``RandomState``. Defaults to 0.

    Returns:
        np.ndarray: int64 indices into ``labels``, class 0's first (in the
        order of the shuffle), then class 1's, ...

    Raises:
        ValueError: a class has fewer images than it should keep.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.RandomState(seed)
    kept = []
    for c, n_c in enumerate(class_counts):
        idx = np.flatnonzero(labels == c)
        if len(idx) < n_c:
            raise ValueError(
                f'class {c} has {len(idx)} images, fewer than the {n_c} the '
                f'long-tailed profile keeps.')
        rng.shuffle(idx)
        kept.append(idx[:n_c])
    if not kept:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(kept).astype(np.int64)


def long_tailed_subset(labels: Sequence[int],
                       num_classes: int,
                       imbalance_factor: float,
                       imbalance_type: str = 'exp',
                       seed: int = 0,
                       max_per_class: Optional[int] = None,
                       owner: str = 'long-tailed subset') -> np.ndarray:
    """Indices of the long-tailed subset of a (balanced) labelled set.

    ``n_max`` is ``max_per_class`` or, by default, the size of the largest
    class (LDAM-DRW uses ``N / C``, the same for a balanced set).
    ``imbalance_factor == 1`` keeps every image in its original order.

    Args:
        labels (sequence[int]): label of every image, shape ``(N,)``, each
            in ``[0, num_classes)``.
        num_classes (int): number of classes ``C``.
        imbalance_factor, imbalance_type, seed: see
            :func:`long_tailed_counts` and :func:`long_tailed_indices`.
        max_per_class (int, optional): ``n_max``; set it to the size of the
            smallest class for a set that is not exactly balanced.
        owner (str): name put in front of error messages.

    Returns:
        np.ndarray: int64 indices into ``labels`` (see
        :func:`long_tailed_indices`).
    """
    check_imbalance_args(imbalance_factor, imbalance_type, seed, owner)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
        raise ValueError(
            f'{owner}: label {bad} is outside [0, {num_classes}) (the '
            f'dataset has {num_classes} classes in metainfo["classes"]).')
    if imbalance_factor == 1:
        return np.arange(len(labels), dtype=np.int64)
    have = np.bincount(labels, minlength=num_classes)
    n_max = int(have.max()) if max_per_class is None else max_per_class
    want = long_tailed_counts(n_max, num_classes, imbalance_factor,
                              imbalance_type)
    short = [c for c in range(num_classes) if have[c] < want[c]]
    if short:
        listed = ', '.join(f'class {c}: {have[c]} < {want[c]}'
                           for c in short[:5])
        more = f' and {len(short) - 5} more' if len(short) > 5 else ''
        raise ValueError(
            f'{owner}: the dataset is not balanced enough for the '
            f'{imbalance_type!r} profile with n_max={n_max}: {listed}{more} '
            f'images. Set max_per_class={int(have.min())} (the size of the '
            f'smallest class) or use a balanced dataset.')
    return long_tailed_indices(labels, want, seed)


@DATASETS.register_module()
class LongTailed:
    """Long-tailed view of a balanced single-label dataset (LDAM-DRW split).

    Keeps ``n_c`` images of class ``c`` following
    :func:`long_tailed_counts`, selected by :func:`long_tailed_indices`.
    Images go through the wrapped dataset's own pipeline. Example::

        train_dataloader = dict(dataset=dict(
            type='LongTailed', imbalance_factor=100,
            dataset=dict(type='CIFAR10', data_root='data/cifar10',
                         pipeline=train_pipeline)))

    Args:
        dataset (dict | BaseDataset): the balanced dataset or its config.
            It must give one label per image (``get_gt_labels`` or
            ``get_cat_ids``) and ``metainfo['classes']``.
        imbalance_factor (float): ``n_max / n_min`` (>= 1). 1 keeps every
            image in its original order. Defaults to 100.
        imbalance_type (str): ``'exp'`` or ``'step'``. Defaults to 'exp'.
        seed (int): seed of the selection. Defaults to 0.
        max_per_class (int, optional): ``n_max``. Defaults to the size of
            the largest class.
        lazy_init (bool): defer the selection to :meth:`full_init`.

    Attributes:
        indices (np.ndarray): kept indices into the wrapped dataset, after
            :meth:`full_init`.
        metainfo (dict): the wrapped dataset's metainfo plus
            ``class_counts`` (list of int, index = label).
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 imbalance_factor: float = 100,
                 imbalance_type: str = 'exp',
                 seed: int = 0,
                 max_per_class: Optional[int] = None,
                 lazy_init: bool = False):
        check_imbalance_args(imbalance_factor, imbalance_type, seed,
                             'LongTailed')
        if max_per_class is not None and (
                int(max_per_class) != max_per_class or max_per_class < 1):
            raise ValueError(f'LongTailed: max_per_class must be a positive '
                             f'integer or None, got {max_per_class!r}.')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        elif not hasattr(dataset, '__getitem__'):
            raise TypeError(f'LongTailed: dataset must be a dataset or its '
                            f'config dict, got {type(dataset).__name__}.')
        self.dataset = dataset
        self.imbalance_factor = imbalance_factor
        self.imbalance_type = imbalance_type
        self.seed = seed
        self.max_per_class = max_per_class
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    def full_init(self) -> None:
        """Initialise the wrapped dataset and select the subset."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        inner_meta = copy.deepcopy(self.dataset.metainfo)
        classes = inner_meta.get('classes')
        if not classes:
            raise ValueError(
                f'LongTailed: the wrapped {type(self.dataset).__name__} has '
                f'no metainfo["classes"]; give it `classes` (or metainfo='
                f'dict(classes=...)) so that the number of classes is known.')
        labels = self._read_labels()
        self.indices = long_tailed_subset(
            labels, len(classes), self.imbalance_factor, self.imbalance_type,
            self.seed, self.max_per_class, owner='LongTailed')
        self._gt_labels = labels[self.indices]
        counts = np.bincount(self._gt_labels, minlength=len(classes))
        self._metainfo = dict(inner_meta, class_counts=counts.tolist())
        self._fully_initialized = True

    def _read_labels(self) -> np.ndarray:
        """Label of every image of the wrapped dataset, shape ``(N,)``."""
        if hasattr(self.dataset, 'get_gt_labels'):
            labels = np.asarray(self.dataset.get_gt_labels())
            if labels.ndim == 1 and len(labels) == len(self.dataset):
                return labels.astype(np.int64)
        labels = []
        for i in range(len(self.dataset)):
            cat_ids = self.dataset.get_cat_ids(i)
            if len(cat_ids) != 1:
                raise ValueError(
                    f'LongTailed: image {i} of the wrapped '
                    f'{type(self.dataset).__name__} has labels '
                    f'{list(cat_ids)}; only single-label datasets can be '
                    f'made long-tailed.')
            labels.append(int(cat_ids[0]))
        return np.asarray(labels, dtype=np.int64)

    def _check_init(self) -> None:
        if not self._fully_initialized:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """Wrapped metainfo plus ``class_counts`` (a copy)."""
        self._check_init()
        return copy.deepcopy(self._metainfo)

    @property
    def pipeline(self):
        """The wrapped dataset's pipeline."""
        return self.dataset.pipeline

    def __len__(self) -> int:
        self._check_init()
        return len(self.indices)

    def __getitem__(self, idx: int):
        self._check_init()
        return self.dataset[int(self.indices[idx])]

    def get_data_info(self, idx: int) -> dict:
        """Annotation of the ``idx``-th kept image (no pipeline)."""
        self._check_init()
        return self.dataset.get_data_info(int(self.indices[idx]))

    def get_cat_ids(self, idx: int) -> List[int]:
        """Category of the ``idx``-th kept image, as a one-element list."""
        self._check_init()
        return [int(self._gt_labels[idx])]

    def get_gt_labels(self) -> np.ndarray:
        """Labels of the kept images, shape ``(len(self),)``."""
        self._check_init()
        return self._gt_labels.copy()

    def __repr__(self) -> str:
        return (f'LongTailed(imbalance_factor={self.imbalance_factor}, '
                f'imbalance_type={self.imbalance_type!r}, seed={self.seed}, '
                f'dataset={type(self.dataset).__name__})')
