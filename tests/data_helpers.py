"""Real CIFAR test data, built once into a persistent cache folder.

* :func:`cifar10_root` - the real CIFAR-10 in the official python layout
  (``cifar-10-batches-py/``), built by ``<repo>/../shared/data/make_cifar.py``
  from the project's JPEG copy of the 60,000 images (about 20 s, once).
* :func:`cifar100_root` - a CIFAR-100 stand-in in the official CIFAR-100
  python layout (``cifar-100-python/{train,test,meta}``) made of the CIFAR-10
  images: CIFAR-10 class ``y`` is split into fine classes ``10*y .. 10*y+9``
  (the k-th image of class ``y`` in file order gets ``10*y + k % 10``), which
  gives 500 training and 100 test images per fine class; coarse label =
  fine // 5. The pixels are real; only the labels are assigned.

Both are re-packed copies: their md5 sums are not the official ones, so the
datasets must be built with ``verify_md5=False``.

The cache is ``$LCREG_TEST_CACHE`` or ``<repo>/.cache/test-data``. Each entry
is built in a temporary folder, under a file lock, and renamed into place, so
parallel pytest processes never see a half-written folder.
"""
import contextlib
import fcntl
import importlib.util
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.normpath(osp.join(REPO_ROOT, '..', 'shared', 'data'))
MAKE_CIFAR = osp.join(SHARED_DATA, 'make_cifar.py')
CACHE_VERSION = 'v1'  # bump when a builder below changes its output

CIFAR10_FOLDER = 'cifar-10-batches-py'
CIFAR100_FOLDER = 'cifar-100-python'
CIFAR100_COARSE_NAMES = (
    'aquatic_mammals', 'fish', 'flowers', 'food_containers',
    'fruit_and_vegetables', 'household_electrical_devices',
    'household_furniture', 'insects', 'large_carnivores',
    'large_man-made_outdoor_things', 'large_natural_outdoor_scenes',
    'large_omnivores_and_herbivores', 'medium_mammals',
    'non-insect_invertebrates', 'people', 'reptiles', 'small_mammals',
    'trees', 'vehicles_1', 'vehicles_2')


class DataUnavailable(RuntimeError):
    """The shared source data is absent, so the test data cannot be built."""


def cache_dir() -> str:
    """The cache folder (created): ``$LCREG_TEST_CACHE`` or the repo's."""
    path = os.environ.get('LCREG_TEST_CACHE') or osp.join(
        REPO_ROOT, '.cache', 'test-data')
    os.makedirs(path, exist_ok=True)
    return path


def shared_data_missing() -> str:
    """Why the CIFAR-10 source is unusable, or '' when it is there."""
    for name in ('make_cifar.py', 'cifar10-jpeg.tar.gz',
                 'cifar10_train_order.txt'):
        if not osp.isfile(osp.join(SHARED_DATA, name)):
            return (f'CIFAR-10 source {osp.join(SHARED_DATA, name)} is '
                    f'absent (the shared data folder ../shared/data next to '
                    f'the repository)')
    return ''


@contextlib.contextmanager
def _file_lock(path):
    with open(path, 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build_once(name: str, build) -> str:
    """``<cache>/<name>``, made by ``build(tmp_folder)`` if it is absent."""
    root = cache_dir()
    final = osp.join(root, name)
    if osp.isdir(final):
        return final
    with _file_lock(osp.join(root, f'.{name}.lock')):
        if osp.isdir(final):  # another process built it meanwhile
            return final
        tmp = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=root)
        try:
            build(tmp)
            os.chmod(tmp, 0o755)  # mkdtemp makes it private
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _build_cifar10(dest: str) -> None:
    subprocess.run([sys.executable, MAKE_CIFAR, 'cifar10', dest],
                   check=True, stdout=subprocess.DEVNULL)


def cifar10_root() -> str:
    """``data_root`` of the real CIFAR-10 (holds ``cifar-10-batches-py``).

    Raises:
        DataUnavailable: ``../shared/data`` lacks the CIFAR-10 source.
    """
    reason = shared_data_missing()
    if reason:
        raise DataUnavailable(reason)
    return _build_once(f'cifar10-{CACHE_VERSION}', _build_cifar10)


def _py2_pickle_module():
    """make_cifar.py, whose pickler writes keys as Python 2 ``str``."""
    spec = importlib.util.spec_from_file_location('_make_cifar', MAKE_CIFAR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: str) -> dict:
    with open(path, 'rb') as f:
        return pickle.load(f, encoding='latin1')


def fine_labels_from_cifar10(labels) -> np.ndarray:
    """Fine label ``10*y + k % 10`` of the k-th image of CIFAR-10 class y."""
    labels = np.asarray(labels, dtype=np.int64)
    seen = np.zeros(10, dtype=np.int64)
    fine = np.empty_like(labels)
    for i, y in enumerate(labels):
        fine[i] = 10 * y + seen[y] % 10
        seen[y] += 1
    return fine


def _build_cifar100(dest: str) -> None:
    from mmpretrain.datasets.categories import CIFAR100_CATEGORIES

    mk = _py2_pickle_module()
    src = osp.join(cifar10_root(), CIFAR10_FOLDER)
    folder = osp.join(dest, CIFAR100_FOLDER)
    os.makedirs(folder)
    splits = {'train': [f'data_batch_{b}' for b in range(1, 6)],
              'test': ['test_batch']}
    for split, batches in splits.items():
        entries = [_load(osp.join(src, b)) for b in batches]
        fine = fine_labels_from_cifar10(
            [y for e in entries for y in e['labels']])
        names = [n for e in entries for n in e['filenames']]
        batch_label = ('training batch 1 of 1' if split == 'train' else
                       'testing batch 1 of 1')
        mk._dump(
            {mk._s('filenames'): [mk._s(n) for n in names],
             mk._s('batch_label'): mk._s(batch_label),
             mk._s('fine_labels'): fine.tolist(),
             mk._s('coarse_labels'): (fine // 5).tolist(),
             mk._s('data'): np.concatenate([e['data'] for e in entries])},
            osp.join(folder, split))
    mk._dump({mk._s('fine_label_names'): [mk._s(n) for n in
                                           CIFAR100_CATEGORIES],
              mk._s('coarse_label_names'): [mk._s(n) for n in
                                             CIFAR100_COARSE_NAMES]},
             osp.join(folder, 'meta'))


def cifar100_root() -> str:
    """``data_root`` of the CIFAR-100 stand-in (holds ``cifar-100-python``).

    Raises:
        DataUnavailable: ``../shared/data`` lacks the CIFAR-10 source.
    """
    reason = shared_data_missing()
    if reason:
        raise DataUnavailable(reason)
    return _build_once(f'cifar100-from-cifar10-{CACHE_VERSION}',
                       _build_cifar100)
