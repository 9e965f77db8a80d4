"""Shared pytest set-up: CPU-only defaults and the real CIFAR data fixtures.

Fixtures (session scope, built once into the cache of
``tests/data_helpers.py``; skipped with the reason when ``../shared/data``
is absent):

* ``cifar10_root``  - ``data_root`` of the real CIFAR-10 python batches.
* ``cifar100_root`` - ``data_root`` of a CIFAR-100-layout copy of the
  CIFAR-10 images with 100 assigned labels (500 train / 100 test each).

Both copies are re-packed: build the datasets with ``verify_md5=False``.
"""
import os
import sys

# Defaults for a small shared CPU machine; set them yourself to override.
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
for path in (REPO_ROOT, TESTS_DIR):  # `import lcreg`, `import data_helpers`
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest  # noqa: E402

import data_helpers  # noqa: E402


def _root_or_skip(build):
    try:
        return build()
    except data_helpers.DataUnavailable as err:
        pytest.skip(f'real CIFAR data unavailable: {err}')


@pytest.fixture(scope='session')
def cifar10_root():
    """``data_root`` holding the real ``cifar-10-batches-py`` (re-packed)."""
    return _root_or_skip(data_helpers.cifar10_root)


@pytest.fixture(scope='session')
def cifar100_root():
    """``data_root`` holding a ``cifar-100-python`` made of CIFAR-10 images."""
    return _root_or_skip(data_helpers.cifar100_root)
