"""CIFAR-10-LT and CIFAR-100-LT: the long-tailed CIFAR of LDAM-DRW / MiSLAS.

The official CIFAR python batches are read by MMPretrain's ``CIFAR10`` /
``CIFAR100`` (same folders, same md5 sums, same download); the training
split is then cut down with the LDAM-DRW profile and selection of
:mod:`lcreg.datasets.long_tailed`. CIFAR-10 with ``imbalance_factor=100``
keeps 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50 images (12,406).
"""
from typing import Optional

import numpy as np
from mmengine.fileio import LocalBackend, exists, get_file_backend, join_path
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.datasets.utils import check_md5
from mmpretrain.registry import DATASETS

from .long_tailed import check_imbalance_args, long_tailed_subset


@DATASETS.register_module()
class CIFAR10LT(CIFAR10):
    """Long-tailed CIFAR-10 (LDAM-DRW split) from the official python batches.

    ``data_root`` holds ``cifar-10-batches-py/`` (``data_batch_1..5``,
    ``test_batch``, ``batches.meta``). The training split keeps ``n_c``
    images of class ``c`` (``n_c = int(5000 * (1/IF) ** (c/9))`` for
    ``'exp'``), selected as LDAM-DRW does: one
    ``numpy.random.RandomState(seed)`` shuffles the indices of each class in
    label order and the first ``n_c`` are kept, listed class by class. The
    test split is always the full balanced one.

    The training split sets ``metainfo['class_counts']`` (list of int,
    index = label) to its per-class counts, after :meth:`full_init`.

    Args:
        data_root (str): folder that contains ``cifar-10-batches-py``.
        split (str): ``'train'`` or ``'test'``. Defaults to 'train'.
        imbalance_factor (float): largest / smallest class size (>= 1);
            1 keeps the original training data. Defaults to 100.
        imbalance_type (str): ``'exp'`` or ``'step'``. Defaults to 'exp'.
        seed (int): seed of the selection. Defaults to 0 (LDAM-DRW's).
        verify_md5 (bool): check the official md5 sums of the batch files.
            Set it to False for a re-packed copy (e.g. the one built by
            ``make_cifar.py``) whose bytes differ. Defaults to True.
        download (bool): download and extract the official archive into
            ``data_root`` when it is missing (needs internet access).
            Defaults to False.
        **kwargs: any other argument of MMPretrain's ``CIFAR10`` /
            ``BaseDataset`` (``pipeline``, ``test_mode``, ``metainfo``,
            ``data_prefix``, ``lazy_init``, ...).
    """

    _how_to_get = (
        'Get it with download=True on a machine with internet access, or '
        'build the re-packed copy of this project with `python '
        '../shared/data/make_cifar.py cifar10 {root}` (run from the '
        'repository root) and set '
        'verify_md5=False (its md5 sums differ from the official ones).')

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 imbalance_factor: float = 100,
                 imbalance_type: str = 'exp',
                 seed: int = 0,
                 verify_md5: bool = True,
                 download: bool = False,
                 **kwargs):
        name = type(self).__name__
        if split not in ('train', 'test'):
            raise ValueError(
                f"{name}: split must be 'train' or 'test', got {split!r}.")
        if not data_root and not kwargs.get('data_prefix'):
            raise ValueError(
                f'{name}: data_root is empty; set it to the folder that '
                f'contains {self.base_folder}/.')
        check_imbalance_args(imbalance_factor, imbalance_type, seed, name)
        self.imbalance_factor = imbalance_factor
        self.imbalance_type = imbalance_type
        self.seed = seed
        self.verify_md5 = verify_md5
        if not verify_md5:
            # The parent skips a check whose md5 is None.
            self.train_list = [[f, None] for f, _ in type(self).train_list]
            self.test_list = [[f, None] for f, _ in type(self).test_list]
            self.meta = dict(type(self).meta, md5=None)
        super().__init__(
            data_root=data_root, split=split, download=download, **kwargs)

    def _integrity_problem(self) -> Optional[Exception]:
        """The error saying why the files cannot be used, or None."""
        name = type(self).__name__
        root = self.data_prefix['root']
        folder = join_path(root, self.base_folder)
        files = [(join_path(folder, f), md5)
                 for f, md5 in self.train_list + self.test_list]
        missing = [path for path, _ in files if not exists(path)]
        if missing:
            what = ('the folder does not exist' if not exists(folder) else
                    'missing ' + ', '.join(missing))
            return FileNotFoundError(
                f'{name}: cannot find the {self.base_folder} files in '
                f'{folder} ({what}). ' + self._how_to_get.format(
                    root=root.rstrip('/') or root))
        for path, md5 in files:
            if md5 is not None and not check_md5(path, md5):
                return RuntimeError(
                    f'{name}: {path} does not match the official md5 sum '
                    f'{md5}: the file is corrupt or re-packed. Download it '
                    f'again (delete {folder}, download=True), or, for a '
                    f're-packed copy such as the one make_cifar.py builds, '
                    f'set verify_md5=False.')
        return None

    def load_data_list(self):
        """Load the split with the parent, then keep the long-tailed subset."""
        name = type(self).__name__
        root = self.data_prefix['root']
        problem = self._integrity_problem()
        local = isinstance(get_file_backend(root, enable_singleton=True),
                           LocalBackend)
        if problem is not None and not (self.download and local):
            raise problem
        if problem is None:
            self._checked = True  # spares the parent two more md5 passes
            try:
                data_list = super().load_data_list()
            finally:
                self._checked = False
        else:
            try:
                data_list = super().load_data_list()
            except (OSError, RuntimeError, AssertionError) as err:
                raise RuntimeError(
                    f'{name}: downloading {self.url} into {root} failed '
                    f'({err}). ' + self._how_to_get.format(root=root)) from err
        if self.split != 'train':
            return data_list
        labels = [info['gt_label'] for info in data_list]
        keep = long_tailed_subset(
            labels, len(self._metainfo['classes']), self.imbalance_factor,
            self.imbalance_type, self.seed, owner=name)
        return [data_list[i] for i in keep]

    def _check_integrity(self):
        """Parent's check, skipped right after :meth:`_integrity_problem`."""
        return getattr(self, '_checked', False) or super()._check_integrity()

    def full_init(self):
        """Load the data; the training split records its ``class_counts``."""
        if self._fully_initialized:
            return
        super().full_init()
        if self.split == 'train':
            if self.serialize_data:
                labels = self.get_gt_labels()
            else:  # read in place: get_gt_labels deep-copies every image
                labels = [info['gt_label'] for info in self.data_list]
            counts = np.bincount(labels,
                                 minlength=len(self._metainfo['classes']))
            self._metainfo['class_counts'] = [int(n) for n in counts]

    def extra_repr(self):
        """Extra lines of ``repr``: the imbalance setting."""
        return super().extra_repr() + [
            f'Imbalance: \t{self.imbalance_type}, factor '
            f'{self.imbalance_factor}, seed {self.seed}'
        ]


@DATASETS.register_module()
class CIFAR100LT(CIFAR10LT, CIFAR100):
    """Long-tailed CIFAR-100 (LDAM-DRW split) from the official python files.

    ``data_root`` holds ``cifar-100-python/`` (``train``, ``test``,
    ``meta``). Same arguments and behaviour as :class:`CIFAR10LT`, with 100
    classes of 500 training images (IF 100 keeps 500 ... 5, 10,847 images).
    Folder, file names, md5 sums, url and classes come from MMPretrain's
    ``CIFAR100`` (next in the method resolution order).
    """

    _how_to_get = (
        'Get it with download=True on a machine with internet access (it '
        'fetches the official cifar-100-python.tar.gz), or extract that '
        'archive into {root}.')
