"""Tests of the LDAM-DRW long-tailed profile, selection and LongTailed."""
import numpy as np
import pytest
from mmpretrain.registry import DATASETS
from PIL import Image

import lcreg  # noqa: F401  (registration)
from lcreg.datasets import CIFAR10LT, LongTailed
from lcreg.datasets.long_tailed import (long_tailed_counts,
                                        long_tailed_indices,
                                        long_tailed_subset)

CIFAR10_IF100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


@pytest.mark.parametrize('n_max,num_classes,factor,total', [
    (5000, 10, 100, 12406), (5000, 10, 50, 13996), (5000, 10, 10, 20431),
    (500, 100, 100, 10847), (500, 100, 50, 12608), (500, 100, 10, 19573),
])
def test_exp_profile_totals_of_the_benchmarks(n_max, num_classes, factor,
                                              total):
    counts = long_tailed_counts(n_max, num_classes, factor)
    assert len(counts) == num_classes
    assert sum(counts) == total
    assert counts[0] == n_max and counts[-1] == int(n_max / factor)
    assert all(a >= b for a, b in zip(counts, counts[1:]))


def test_exp_profile_values():
    assert long_tailed_counts(5000, 10, 100) == CIFAR10_IF100
    # 20 * 0.1 ** (c / 3): 20, 9.28, 4.31, 2
    assert long_tailed_counts(20, 4, 10) == [20, 9, 4, 2]
    assert long_tailed_counts(7, 3, 1) == [7, 7, 7]
    assert long_tailed_counts(7, 1, 10) == [7]


def test_step_profile():
    assert long_tailed_counts(5000, 10, 100, 'step') == [5000] * 5 + [50] * 5
    assert long_tailed_counts(500, 100, 10, 'step') == [500] * 50 + [50] * 50
    # odd number of classes: the larger half is the tail
    assert long_tailed_counts(100, 5, 4, 'step') == [100, 100, 25, 25, 25]


def test_selection_is_ldam_procedure_on_a_hand_example():
    labels = [0, 1, 0, 1, 0, 1, 0, 1]  # class 0 at 0,2,4,6; class 1 odd
    # RandomState(0) shuffles [0,2,4,6] to [4,6,2,0], then [1,3,5,7] to
    # [1,5,3,7]; RandomState(1) gives [6,4,0,2] for class 0.
    assert long_tailed_indices(labels, [3, 1], seed=0).tolist() == [4, 6, 2, 1]
    assert long_tailed_indices(labels, [3, 1], seed=1).tolist() == [6, 4, 0, 1]
    assert long_tailed_indices(labels, [3, 2], seed=0).tolist() == [
        4, 6, 2, 1, 5
    ]


def test_selection_leaves_global_random_state_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    long_tailed_indices(np.arange(100) % 4, [25, 10, 5, 2], seed=0)
    assert np.random.rand() == expected


def test_subset_keeps_everything_in_order_for_factor_one():
    labels = np.array([2, 0, 1, 2, 0, 1])
    assert long_tailed_subset(labels, 3, 1).tolist() == [0, 1, 2, 3, 4, 5]


def test_subset_n_max_is_largest_class_or_max_per_class():
    labels = np.repeat(np.arange(3), [10, 10, 9])  # not quite balanced
    keep = long_tailed_subset(labels, 3, 10)
    # int(10 * 0.1 ** (c / 2)) = 10, 3, 1
    assert np.bincount(labels[keep], minlength=3).tolist() == [10, 3, 1]
    keep = long_tailed_subset(labels, 3, 10, max_per_class=9)
    assert np.bincount(labels[keep], minlength=3).tolist() == [9, 2, 0]


@pytest.mark.parametrize('kwargs,match', [
    (dict(imbalance_factor=0.01), r'imbalance_factor must be >= 1.*'
     r'imbalance_factor=100'),
    (dict(imbalance_factor=0), 'imbalance_factor must be >= 1'),
    (dict(imbalance_factor='100'), 'imbalance_factor must be a finite'),
    (dict(imbalance_factor=True), 'imbalance_factor must be a finite'),
    (dict(imbalance_factor=float('nan')), 'imbalance_factor must be a fin'),
    (dict(imbalance_type='linear'), "imbalance_type must be one of.*'exp'"),
    (dict(seed=-1), r'seed must be an integer in \[0, 2\*\*32\)'),
])
def test_argument_errors(kwargs, match):
    args = dict(labels=[0, 1], num_classes=2, imbalance_factor=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        long_tailed_subset(**args)


def test_class_too_small_error_names_class_and_fix():
    labels = np.repeat(np.arange(3), [10, 3, 10])
    # n_c = int(10 * 0.25 ** (c / 2)) = 10, 5, 2: class 1 has 3 < 5
    with pytest.raises(ValueError, match=r'class 1: 3 < 5.*max_per_class=3'):
        long_tailed_subset(labels, 3, 4)
    with pytest.raises(ValueError, match=r'class 1 has 3 images, fewer'):
        long_tailed_indices(labels, [10, 5, 2])


def test_label_out_of_range_error():
    with pytest.raises(ValueError, match=r'label 3 is outside \[0, 3\)'):
        long_tailed_subset([0, 1, 2, 3], 3, 10)


# ---------------------------------------------------------------- LongTailed
def _image_folder(root, per_class=20, num_classes=4):
    """CustomDataset layout root/<class>/<i>.png; pixel value = class*50+i."""
    for c in range(num_classes):
        (root / f'class{c}').mkdir()
        for i in range(per_class):
            img = np.full((4, 4, 3), c * 50 + i, dtype=np.uint8)
            Image.fromarray(img).save(root / f'class{c}' / f'{i:02d}.png')
    return str(root)


def _custom_cfg(root):
    return dict(type='CustomDataset', data_root=root, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='PackInputs')])


def test_wrapper_over_custom_dataset(tmp_path):
    root = _image_folder(tmp_path)
    ds = DATASETS.build(dict(type='LongTailed', dataset=_custom_cfg(root),
                             imbalance_factor=10))
    assert isinstance(ds, LongTailed)
    assert len(ds) == 20 + 9 + 4 + 2
    meta = ds.metainfo
    assert meta['class_counts'] == [20, 9, 4, 2]
    assert meta['classes'] == ('class0', 'class1', 'class2', 'class3')
    inner_labels = ds.dataset.get_gt_labels()
    assert ds.get_gt_labels().tolist() == inner_labels[ds.indices].tolist()
    expected_labels = [0] * 20 + [1] * 9 + [2] * 4 + [3] * 2
    assert ds.get_gt_labels().tolist() == expected_labels
    # the kept images are the LDAM selection over the inner dataset order
    expected = long_tailed_indices(inner_labels, [20, 9, 4, 2], seed=0)
    assert ds.indices.tolist() == expected.tolist()
    # __getitem__ goes through the inner pipeline, on the selected image
    for i in (0, 25, len(ds) - 1):
        packed = ds[i]
        label = ds.get_cat_ids(i)[0]
        assert packed['data_samples'].gt_label.tolist() == [label]
        path = ds.get_data_info(i)['img_path']
        pixel = int(path[-6:-4]) + 50 * label
        assert packed['inputs'].shape == (3, 4, 4)
        assert (packed['inputs'] == pixel).all()


def test_wrapper_seed_and_factor_one(tmp_path):
    inner = DATASETS.build(_custom_cfg(_image_folder(tmp_path)))
    a = LongTailed(inner, imbalance_factor=10, seed=0)
    b = LongTailed(inner, imbalance_factor=10, seed=0)
    c = LongTailed(inner, imbalance_factor=10, seed=5)
    assert a.indices.tolist() == b.indices.tolist()
    assert a.indices.tolist() != c.indices.tolist()
    assert c.metainfo['class_counts'] == [20, 9, 4, 2]
    full = LongTailed(inner, imbalance_factor=1)
    assert full.indices.tolist() == list(range(80))
    assert full.metainfo['class_counts'] == [20] * 4


def test_wrapper_step_and_lazy_init(tmp_path):
    ds = LongTailed(_custom_cfg(_image_folder(tmp_path)), imbalance_factor=4,
                    imbalance_type='step', lazy_init=True)
    assert not ds._fully_initialized
    assert ds.metainfo['class_counts'] == [20, 20, 5, 5]
    assert len(ds) == 50


class _CatIdsOnly:
    """A dataset with only get_cat_ids (no get_gt_labels)."""

    def __init__(self, cat_ids, classes=('a', 'b')):
        self.cat_ids = cat_ids
        self.metainfo = dict(classes=classes) if classes else {}

    def __len__(self):
        return len(self.cat_ids)

    def __getitem__(self, idx):
        return self.cat_ids[idx]

    def get_cat_ids(self, idx):
        return self.cat_ids[idx]


def test_wrapper_reads_get_cat_ids_and_rejects_bad_datasets():
    ds = LongTailed(_CatIdsOnly([[0], [1]] * 4), imbalance_factor=4)
    assert ds.metainfo['class_counts'] == [4, 1]
    assert ds[4] == [1]  # 5th kept image is class 1's (index 1, 3, 5 or 7)
    with pytest.raises(ValueError, match=r'image 1 .* labels \[0, 1\]'):
        LongTailed(_CatIdsOnly([[0], [0, 1]]), imbalance_factor=2)
    with pytest.raises(ValueError, match=r'no metainfo\["classes"\]'):
        LongTailed(_CatIdsOnly([[0], [1]], classes=None), imbalance_factor=2)
    with pytest.raises(ValueError, match='LongTailed: imbalance_factor must'):
        LongTailed(_CatIdsOnly([[0], [1]]), imbalance_factor=0.5)
    with pytest.raises(ValueError, match='LongTailed: max_per_class'):
        LongTailed(_CatIdsOnly([[0], [1]]), max_per_class=0)


def test_wrapper_over_cifar10_matches_cifar10lt(cifar10_root):
    balanced = CIFAR10LT(data_root=cifar10_root, imbalance_factor=1,
                         verify_md5=False, serialize_data=False)
    wrapped = LongTailed(balanced, imbalance_factor=100)
    direct = CIFAR10LT(data_root=cifar10_root, imbalance_factor=100,
                       verify_md5=False, serialize_data=False)
    assert wrapped.metainfo['class_counts'] == CIFAR10_IF100
    assert direct.metainfo['class_counts'] == CIFAR10_IF100
    assert len(wrapped) == len(direct) == 12406
    assert (wrapped.get_gt_labels() == direct.get_gt_labels()).all()
    for i in (0, 5000, 9000, 12405):
        assert np.array_equal(wrapped.get_data_info(i)['img'],
                              direct.get_data_info(i)['img'])
