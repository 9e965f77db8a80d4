"""Tests of CIFAR10LT / CIFAR100LT on the real CIFAR images.

The expected selection is an independent re-statement of LDAM-DRW's
``IMBALANCECIFAR10.gen_imbalanced_data`` (global ``np.random.seed`` +
``np.random.shuffle`` over the raw targets read straight from the pickles);
the images the datasets hold are compared byte for byte with it.
"""
import os
import pickle

import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

import lcreg  # noqa: F401  (registration)
from lcreg.datasets import CIFAR10LT, CIFAR100LT

CIFAR10_COUNTS = {
    100: [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    50: [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100],
    10: [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500],
}
TOTALS = {(10, 100): 12406, (10, 50): 13996, (10, 10): 20431,
          (100, 100): 10847, (100, 50): 12608, (100, 10): 19573}


def raw_train(root, num_classes):
    """(images N x 32 x 32 x 3, targets) of the training files, unprocessed."""
    if num_classes == 10:
        files = [f'cifar-10-batches-py/data_batch_{b}' for b in range(1, 6)]
    else:
        files = ['cifar-100-python/train']
    data, targets = [], []
    for name in files:
        with open(os.path.join(root, name), 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
        data.append(entry['data'])
        targets += entry['labels' if num_classes == 10 else 'fine_labels']
    images = np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.array(targets)


def ldam_selection(targets, cls_num, imb_factor, seed=0):
    """LDAM-DRW's selection, written out plainly (imb_factor = 1 / IF)."""
    img_max = len(targets) / cls_num
    per_cls = [
        int(img_max * (imb_factor**(i / (cls_num - 1.0))))
        for i in range(cls_num)
    ]
    state = np.random.get_state()
    np.random.seed(seed)
    chosen = []
    for the_class, the_img_num in zip(np.unique(targets), per_cls):
        idx = np.where(targets == the_class)[0]
        np.random.shuffle(idx)
        chosen.append(idx[:the_img_num])
    np.random.set_state(state)
    return np.concatenate(chosen)


def infos_of(dataset):
    if dataset.serialize_data:
        return [dataset.get_data_info(i) for i in range(len(dataset))]
    return dataset.data_list  # read in place, no deep copies


def images_of(dataset):
    return np.stack([info['img'] for info in infos_of(dataset)])


def labels_of(dataset):
    return np.array([info['gt_label'] for info in infos_of(dataset)])


@pytest.fixture(scope='module')
def raw10(cifar10_root):
    return raw_train(cifar10_root, 10)


@pytest.fixture(scope='module')
def raw100(cifar100_root):
    return raw_train(cifar100_root, 100)


@pytest.mark.parametrize('factor', [100, 50, 10])
def test_cifar10_lt_counts_and_ldam_images(cifar10_root, raw10, factor):
    # the default (serialized) storage once, plain lists for speed
    ds = CIFAR10LT(data_root=cifar10_root, imbalance_factor=factor,
                   verify_md5=False, serialize_data=factor == 100)
    assert isinstance(ds, CIFAR10)
    counts = ds.metainfo['class_counts']
    assert counts == CIFAR10_COUNTS[factor]
    assert len(ds) == sum(counts) == TOTALS[(10, factor)]
    assert np.bincount(labels_of(ds)).tolist() == counts
    images, targets = raw10
    keep = ldam_selection(targets, 10, 1 / factor)
    assert labels_of(ds).tolist() == targets[keep].tolist()
    assert np.array_equal(images_of(ds), images[keep])


@pytest.mark.parametrize('factor', [100, 50, 10])
def test_cifar100_lt_counts_and_ldam_images(cifar100_root, raw100, factor):
    # the default (serialized) storage once, plain lists for speed
    ds = CIFAR100LT(data_root=cifar100_root, imbalance_factor=factor,
                    verify_md5=False, serialize_data=factor == 100)
    assert isinstance(ds, CIFAR100)
    counts = ds.metainfo['class_counts']
    assert len(counts) == 100 and len(ds.metainfo['classes']) == 100
    assert counts[0] == 500 and counts[-1] == 500 // factor
    assert len(ds) == sum(counts) == TOTALS[(100, factor)]
    images, targets = raw100
    keep = ldam_selection(targets, 100, 1 / factor)
    assert labels_of(ds).tolist() == targets[keep].tolist()
    assert np.array_equal(images_of(ds), images[keep])


def test_seed_changes_selection_and_step_profile(cifar10_root, raw10):
    images, targets = raw10
    ds = CIFAR10LT(data_root=cifar10_root, imbalance_factor=100, seed=1,
                   verify_md5=False, serialize_data=False)
    keep1, keep0 = ldam_selection(targets, 10, 0.01, seed=1), \
        ldam_selection(targets, 10, 0.01, seed=0)
    assert not np.array_equal(keep1, keep0)
    assert ds.metainfo['class_counts'] == CIFAR10_COUNTS[100]
    assert np.array_equal(images_of(ds), images[keep1])
    step = CIFAR10LT(data_root=cifar10_root, imbalance_factor=100,
                     imbalance_type='step', verify_md5=False,
                     serialize_data=False)
    assert step.metainfo['class_counts'] == [5000] * 5 + [50] * 5
    assert len(step) == 25250
    assert labels_of(step)[:25000].tolist() == np.repeat(
        np.arange(5), 5000).tolist()


def test_factor_one_keeps_original_training_set(cifar10_root, raw10):
    ds = CIFAR10LT(data_root=cifar10_root, imbalance_factor=1,
                   verify_md5=False, serialize_data=False)
    images, targets = raw10
    assert len(ds) == 50000
    assert ds.metainfo['class_counts'] == [5000] * 10
    assert labels_of(ds).tolist() == targets.tolist()  # same order
    assert np.array_equal(ds.get_data_info(123)['img'], images[123])


def test_test_split_is_never_subsampled(cifar10_root, cifar100_root):
    ds = DATASETS.build(dict(
        type='CIFAR10LT', data_root=cifar10_root, split='test',
        imbalance_factor=100, verify_md5=False,
        pipeline=[dict(type='PackInputs')]))
    assert len(ds) == 10000
    labels = ds.get_gt_labels()
    assert np.bincount(labels).tolist() == [1000] * 10
    # the test batch interleaves the classes: airplane 0, automobile 0, ...
    assert labels[:12].tolist() == list(range(10)) + [0, 1]
    assert 'class_counts' not in ds.metainfo  # a training-split key
    packed = ds[3]
    assert packed['inputs'].shape == (3, 32, 32)
    assert packed['data_samples'].gt_label.tolist() == [3]
    ds100 = CIFAR100LT(data_root=cifar100_root, split='test',
                       imbalance_factor=10, verify_md5=False,
                       serialize_data=False)
    assert np.bincount(labels_of(ds100)).tolist() == [100] * 100


def test_training_items_go_through_the_pipeline(cifar10_root, raw10):
    ds = CIFAR10LT(data_root=cifar10_root, imbalance_factor=100,
                   verify_md5=False, serialize_data=False,
                   pipeline=[dict(type='PackInputs')])
    images, targets = raw10
    keep = ldam_selection(targets, 10, 0.01)
    packed = ds[12405]  # last image of class 9
    assert packed['data_samples'].gt_label.tolist() == [9]
    expected = images[keep[12405]].transpose(2, 0, 1)  # CHW
    assert np.array_equal(packed['inputs'].numpy(), expected)


def test_missing_folder_error_names_path_and_how_to_get(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        CIFAR10LT(data_root=str(tmp_path), verify_md5=False)
    msg = str(err.value)
    assert os.path.join(str(tmp_path), 'cifar-10-batches-py') in msg
    assert 'download=True' in msg and 'make_cifar.py cifar10' in msg
    (tmp_path / 'cifar-100-python').mkdir()
    (tmp_path / 'cifar-100-python' / 'train').write_bytes(b'')
    with pytest.raises(FileNotFoundError, match=r'cifar-100-python.*missing '
                       r'.*cifar-100-python/test'):
        CIFAR100LT(data_root=str(tmp_path), verify_md5=False)


def test_md5_checked_by_default(cifar10_root):
    with pytest.raises(RuntimeError) as err:
        CIFAR10LT(data_root=cifar10_root)  # verify_md5=True: official sums
    msg = str(err.value)
    assert 'data_batch_1' in msg and 'c99cafc152244af753f735de768cd75f' in msg
    assert 'verify_md5=False' in msg


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    import mmpretrain.datasets.cifar as mmpretrain_cifar

    def offline(url, *args, **kwargs):
        raise OSError(f'no network for {url}')

    monkeypatch.setattr(mmpretrain_cifar, 'download_and_extract_archive',
                        offline)
    with pytest.raises(RuntimeError, match=r'downloading https://www\.cs\.'
                       r'toronto\.edu/~kriz/cifar-10-python\.tar\.gz into .*'
                       r'failed \(no network'):
        CIFAR10LT(data_root=str(tmp_path), download=True)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(imbalance_factor=0.01), ValueError,
     r'CIFAR10LT: imbalance_factor must be >= 1.*imbalance_factor=100'),
    (dict(imbalance_type='exponential'), ValueError,
     "CIFAR10LT: imbalance_type must be one of"),
    (dict(split='val'), ValueError, "CIFAR10LT: split must be 'train' or"),
    (dict(data_root=''), ValueError, 'CIFAR10LT: data_root is empty'),
])
def test_argument_errors_before_loading(kwargs, error, match):
    args = dict(data_root='/nonexistent', verify_md5=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        CIFAR10LT(**args)
