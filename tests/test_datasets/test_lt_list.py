"""Tests of the long-tailed list-file datasets (lcreg/datasets/lt_list.py)."""
import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lcreg  # noqa: F401  (registration)
from lcreg.datasets.lt_list import (INat2018, ImageNetLT, LTListDataset,
                                    PlacesLT)
from mmpretrain.registry import DATASETS

REPO = Path(__file__).resolve().parents[2]
SPLITS = REPO.parent / 'shared' / 'data' / 'splits'
needs_splits = pytest.mark.skipif(
    not SPLITS.is_dir(),
    reason=f'split lists not found at {SPLITS} (<repo>/../shared/data/splits)')


# --------------------------------------------------------- real split files
@needs_splits
@pytest.mark.parametrize(
    'cls, ann_file, num_images, num_classes, max_count, min_count', [
        (ImageNetLT, 'ImageNet_LT/ImageNet_LT_train.txt', 115846, 1000, 1280,
         5),
        (PlacesLT, 'Places_LT/Places_LT_train.txt', 62500, 365, 4980, 5),
        (ImageNetLT, 'ImageNet_LT/ImageNet_LT_val.txt', 20000, 1000, 20, 20),
        (PlacesLT, 'Places_LT/Places_LT_test.txt', 36500, 365, 100, 100),
        (INat2018, 'iNaturalist18/iNaturalist18_val.txt', 24426, 8142, 3, 3),
    ])
def test_real_split_profiles(cls, ann_file, num_images, num_classes,
                             max_count, min_count):
    dataset = cls(ann_file=ann_file, data_root=str(SPLITS),
                  require_all_classes=True)
    counts = np.asarray(dataset.metainfo['class_counts'])
    assert len(dataset) == num_images
    assert len(counts) == num_classes == dataset.metainfo['num_classes']
    assert (counts.max(), counts.min(), counts.sum()) == (max_count,
                                                          min_count,
                                                          num_images)
    assert np.array_equal(counts, np.bincount(dataset.get_gt_labels()))


@needs_splits
def test_real_list_parsed_like_rsplit():
    """Every path and label equal the plain ``rsplit(' ', 1)`` reading."""
    ann_file = SPLITS / 'ImageNet_LT' / 'ImageNet_LT_val.txt'
    dataset = ImageNetLT(ann_file=str(ann_file), data_root=str(SPLITS),
                         data_prefix='images')
    lines = ann_file.read_text().splitlines()
    assert len(dataset) == len(lines)
    for idx, line in enumerate(lines):
        path, label = line.rsplit(' ', 1)
        assert dataset.relative_path(idx) == path
        assert dataset.get_cat_ids(idx) == [int(label)]
    info = dataset.get_data_info(0)
    assert info == dict(
        img_path=str(SPLITS / 'images' / lines[0].rsplit(' ', 1)[0]),
        gt_label=0, sample_idx=0)
    assert dataset.get_data_info(-1)['sample_idx'] == len(lines) - 1


@needs_splits
def test_storage_is_compact_not_per_sample_dicts():
    dataset = ImageNetLT(ann_file='ImageNet_LT/ImageNet_LT_train.txt',
                         data_root=str(SPLITS))
    assert dataset.data_list == [] and not hasattr(dataset, 'data_bytes')
    for name in ('_path_bytes', '_path_start', '_path_len', '_labels',
                 '_locations'):
        assert isinstance(getattr(dataset, name), np.ndarray), name
    # What a spawned dataloader worker receives: about the file's size plus
    # a few bytes per sample, far below one pickled dict per sample.
    file_size = (SPLITS / 'ImageNet_LT' / 'ImageNet_LT_train.txt').stat(
    ).st_size
    assert len(pickle.dumps(dataset)) < file_size + 30 * len(dataset)


def test_build_from_registry(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_text('a.jpg 0\nb.jpg 1\n')
    dataset = DATASETS.build(
        dict(type='LTListDataset', data_root=str(tmp_path),
             ann_file='list.txt'))
    assert isinstance(dataset, LTListDataset)
    assert dataset.metainfo['class_counts'] == [1, 1]
    assert DATASETS.get('ImageNetLT') is ImageNetLT
    assert DATASETS.get('PlacesLT') is PlacesLT
    assert DATASETS.get('INat2018') is INat2018


# -------------------------------------------------- parsing details
def test_spaces_in_paths_crlf_and_blank_lines(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_bytes(b'dir with space/a b.jpg 2\r\n\r\nc.jpg 007\r\n'
                    b'\n\xc3\xa9t\xc3\xa9.jpg 0')  # no final newline, UTF-8
    dataset = LTListDataset(ann_file=str(ann), num_classes=8)
    assert len(dataset) == 3
    assert [dataset.relative_path(i) for i in range(3)] == [
        'dir with space/a b.jpg', 'c.jpg', '\u00e9t\u00e9.jpg']
    assert dataset.get_gt_labels().tolist() == [2, 7, 0]
    assert dataset.metainfo['class_counts'] == [1, 0, 1, 0, 0, 0, 0, 1]


def test_num_classes_inferred_from_labels_or_classes(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_text('a.jpg 0\nb.jpg 3\n')
    assert LTListDataset(ann_file=str(ann)).metainfo['class_counts'] == [
        1, 0, 0, 1]
    names = tmp_path / 'classes.txt'
    names.write_text('w\nx\ny\nz\nv\n')
    dataset = LTListDataset(ann_file='list.txt', data_root=str(tmp_path),
                            classes='classes.txt')
    assert dataset.CLASSES == ('w', 'x', 'y', 'z', 'v')
    assert dataset.metainfo['class_counts'] == [1, 0, 0, 1, 0]


def test_indices_and_subsets_recount_classes(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_text('a.jpg 0\nb.jpg 1\nc.jpg 1\nd.jpg 2\n')
    first = LTListDataset(ann_file=str(ann), num_classes=3, indices=2)
    assert first.metainfo['class_counts'] == [1, 1, 0]
    full = LTListDataset(ann_file=str(ann), num_classes=3)
    subset = full.get_subset([3, 1])
    assert [subset.relative_path(i) for i in range(2)] == ['d.jpg', 'b.jpg']
    assert subset.metainfo['class_counts'] == [0, 1, 1]
    assert full.metainfo['class_counts'] == [1, 2, 1]  # unchanged
    full.get_subset_(-1)
    assert len(full) == 1 and full.relative_path(0) == 'd.jpg'


def test_inaturalist_sized_list_loads(tmp_path):
    """437,513 lines in the iNaturalist 2018 line format (timings: see
    tools/benchmarks/list_loading.py)."""
    spec = importlib.util.spec_from_file_location(
        'list_loading', REPO / 'tools' / 'benchmarks' / 'list_loading.py')
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    counts = bench.long_tailed_counts()
    ann = tmp_path / 'iNaturalist18_train.txt'
    labels = bench.write_inat_style_list(str(ann), counts)
    dataset = INat2018(ann_file=str(ann), require_all_classes=True)
    assert len(dataset) == 437513 == counts.sum()
    got = np.asarray(dataset.metainfo['class_counts'])
    assert np.array_equal(got, counts)
    assert (got.max(), got.min()) == (1000, 2)
    assert np.array_equal(dataset.get_gt_labels(), labels)
    with open(ann) as f:
        first = f.readline().rstrip('\n')
    path, label = first.rsplit(' ', 1)
    assert dataset.relative_path(0) == path
    assert path.startswith('train_val2018/') and path.endswith('.jpg')
    assert path.split('/')[2] == label
    last_line = ann.read_text().splitlines()[-1]
    assert dataset.relative_path(-1) == last_line.rsplit(' ', 1)[0]


# -------------------------------------------------- images through a pipeline
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 100, 50)]
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=8),
    dict(type='PackInputs'),
]


def _write_images(root: Path):
    """Four solid-colour images: PNG (lossless) and JPEG, two sizes."""
    names = ['cls0/a.png', 'cls1/b.png', 'cls1/c.jpg', 'cls2/d.png']
    for i, (name, colour) in enumerate(zip(names, COLOURS)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', (20 + 4 * i, 16), colour).save(root / name)
    return names, [0, 1, 1, 2]


def test_images_through_pipeline(tmp_path):
    names, labels = _write_images(tmp_path / 'images')
    ann = tmp_path / 'train.txt'
    ann.write_text(''.join(f'{n} {lab}\n' for n, lab in zip(names, labels)))
    dataset = LTListDataset(
        ann_file='train.txt', data_root=str(tmp_path), data_prefix='images',
        num_classes=3, require_all_classes=True, pipeline=PIPELINE)
    for idx in range(4):
        sample = dataset[idx]
        assert tuple(sample['inputs'].shape) == (3, 8, 8)
        assert sample['data_samples'].gt_label.tolist() == [labels[idx]]
        assert sample['data_samples'].img_path == str(
            tmp_path / 'images' / names[idx])
        pixel = sample['inputs'][:, 4, 4].tolist()  # BGR
        if names[idx].endswith('.png'):
            assert pixel == list(COLOURS[idx][::-1])
        else:  # JPEG: lossy, close to the colour
            assert np.abs(np.array(pixel) -
                          np.array(COLOURS[idx][::-1])).max() <= 8


def test_coco_json_matched_by_image_id(tmp_path):
    names, labels = _write_images(tmp_path)
    ids = [17, 3, 42, 8]
    doc = dict(
        images=[dict(id=i, file_name=n, width=20, height=16)
                for i, n in zip(ids, names)],
        # annotations in another order than the images
        annotations=[dict(id=100 + k, image_id=ids[k], category_id=labels[k])
                     for k in (2, 0, 3, 1)],
        categories=[dict(id=2, name='c2'), dict(id=0, name='c0'),
                    dict(id=1, name='c1')])
    (tmp_path / 'train2018.json').write_text(json.dumps(doc))
    dataset = INat2018(ann_file='train2018.json', data_root=str(tmp_path),
                       pipeline=PIPELINE)
    assert len(dataset) == 4
    assert [dataset.relative_path(i) for i in range(4)] == names
    assert dataset.get_gt_labels().tolist() == labels
    assert dataset.CLASSES == ('c0', 'c1', 'c2')
    counts = dataset.metainfo['class_counts']
    assert len(counts) == 8142 and counts[:3] == [1, 2, 1] and sum(
        counts) == 4
    sample = dataset[3]
    assert sample['data_samples'].gt_label.tolist() == [2]
    assert sample['inputs'][:, 0, 0].tolist() == list(COLOURS[3][::-1])


# -------------------------------------------------- user errors
def _error(exc_type, **kwargs):
    with pytest.raises(exc_type) as info:
        LTListDataset(**kwargs)
    message = str(info.value)
    assert '\n' not in message
    return message


def test_missing_data_root_and_ann_file(tmp_path):
    message = _error(FileNotFoundError, ann_file='x.txt',
                     data_root=str(tmp_path / 'nowhere'))
    assert 'nowhere' in message and 'data_root' in message
    message = _error(FileNotFoundError, ann_file='missing_list.txt',
                     data_root=str(tmp_path))
    assert 'missing_list.txt' in message and 'ann_file' in message
    assert 'ann_file is required' in _error(ValueError,
                                            data_root=str(tmp_path))


@pytest.mark.parametrize('content, lineno, problem', [
    ('a.jpg 0\nb.jpg\n', 2, 'no space'),
    ('a.jpg 0\n\nb.jpg x1\n', 3, 'not an integer'),
    ('a.jpg 0\nb.jpg \n', 2, 'whitespace at the end of the line'),
    ('a.jpg 0 \n', 1, 'whitespace at the end of the line'),
    ('a.jpg 0\nb.jpg  1\n', 2, 'more than one space before the label'),
    (' 3\n', 1, 'no space'),
    ('a.jpg 1.5\n', 1, 'not an integer'),
    ('a.jpg 0\nb.jpg 1\nc.jpg -\n', 3, 'not an integer'),
])
def test_malformed_lines(tmp_path, content, lineno, problem):
    ann = tmp_path / 'bad_list.txt'
    ann.write_text(content)
    message = _error(ValueError, ann_file=str(ann))
    assert f'bad_list.txt: line {lineno}: malformed line' in message
    assert problem in message and 'fix or remove this line' in message


def test_utf8_byte_order_mark_is_skipped(tmp_path):
    ann = tmp_path / 'bom.txt'
    ann.write_bytes(b'\xef\xbb\xbfa b.jpg 1\nc.jpg 0\n')
    dataset = LTListDataset(ann_file=str(ann), data_prefix=str(tmp_path),
                            num_classes=2, pipeline=[])
    assert dataset.get_data_info(0)['img_path'] == str(tmp_path / 'a b.jpg')
    assert dataset.get_gt_labels().tolist() == [1, 0]


def test_empty_list(tmp_path):
    ann = tmp_path / 'empty.txt'
    ann.write_text('\n\n')
    assert 'no samples' in _error(ValueError, ann_file=str(ann))


def test_negative_and_out_of_range_labels(tmp_path):
    ann = tmp_path / 'labels.txt'
    ann.write_text('a.jpg 0\nb.jpg -2\n')
    message = _error(ValueError, ann_file=str(ann))
    assert 'labels.txt: line 2: negative label -2' in message
    ann.write_text('a.jpg 0\nb.jpg 2\nc.jpg 3\n')
    message = _error(ValueError, ann_file=str(ann), num_classes=3)
    assert 'labels.txt: line 3: label 3 >= num_classes=3' in message
    ann.write_text('a.jpg 999\nb.jpg 1000\n')
    with pytest.raises(ValueError, match=r'labels.txt: line 2: label 1000 >= '
                       r'num_classes=1000 \(ImageNetLT\)'):
        ImageNetLT(ann_file=str(ann))


def test_class_without_samples_when_required(tmp_path):
    ann = tmp_path / 'train.txt'
    ann.write_text('a.jpg 0\nb.jpg 2\n')
    assert LTListDataset(ann_file=str(ann), num_classes=4).metainfo[
        'class_counts'] == [1, 0, 1, 0]
    message = _error(ValueError, ann_file=str(ann), num_classes=4,
                     require_all_classes=True)
    assert 'train.txt: 2 of 4 classes have no sample: 1, 3' in message
    assert 'require_all_classes' in message


def test_class_names_and_num_classes_conflicts(tmp_path):
    ann = tmp_path / 'train.txt'
    ann.write_text('a.jpg 0\n')
    names = tmp_path / 'names.txt'
    names.write_text('x\ny\n')
    message = _error(ValueError, ann_file=str(ann), classes=str(names),
                     num_classes=3)
    assert 'names.txt gives 2 class names but num_classes is 3' in message
    names.write_text('x\n\ny\n')
    assert 'names.txt: line 2 is empty' in _error(
        ValueError, ann_file=str(ann), classes=str(names))
    assert 'does not exist' in _error(FileNotFoundError, ann_file=str(ann),
                                      classes=str(tmp_path / 'no.txt'))
    with pytest.raises(ValueError, match='PlacesLT has 365 classes'):
        PlacesLT(ann_file=str(ann), num_classes=100)


@pytest.mark.parametrize('doc, where', [
    (dict(images=[dict(id=1, file_name='a.jpg'),
                  dict(id=2, file_name='b.jpg')],
          annotations=[dict(image_id=1, category_id=0)]), 'images[1]'),
    (dict(images=[dict(id=1, file_name='a.jpg')],
          annotations=[dict(image_id=1, category_id=0),
                       dict(image_id=5, category_id=0)]), 'annotations[1]'),
    (dict(images=[dict(id=1, file_name='a.jpg')],
          annotations=[dict(image_id=1, category_id=0),
                       dict(image_id=1, category_id=1)]), 'annotations[1]'),
    (dict(images=[dict(id=1)], annotations=[]), 'images[0]'),
    (dict(images=[dict(id=1, file_name='a.jpg')],
          annotations=[dict(image_id=1, category_id='0')]), 'annotations[0]'),
    (dict(images=[dict(id=1, file_name='a.jpg')]), "'annotations'"),
    (dict(images=[dict(id=[1], file_name='a.jpg')], annotations=[]),
     'images[0]'),
    ([dict(id=1, file_name='a.jpg')], 'COCO-style object'),
])
def test_bad_json(tmp_path, doc, where):
    ann = tmp_path / 'bad.json'
    ann.write_text(json.dumps(doc))
    message = _error(ValueError, ann_file=str(ann))
    assert 'bad.json' in message and where in message


def test_json_out_of_range_and_syntax(tmp_path):
    ann = tmp_path / 'val2018.json'
    ann.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.jpg'), dict(id=2, file_name='b.jpg')],
        annotations=[dict(image_id=2, category_id=8142),
                     dict(image_id=1, category_id=0)])))
    with pytest.raises(ValueError, match=r'val2018.json: images\[1\]: label '
                       r'8142 >= num_classes=8142'):
        INat2018(ann_file=str(ann))
    ann.write_text('{"images": [\n{"id": 1,\n "file_name": }]}')
    assert 'val2018.json: line 3: not valid JSON' in _error(
        ValueError, ann_file=str(ann))


# -------------------------------------------------- missing images
def _missing_setup(tmp_path, **kwargs):
    names, labels = _write_images(tmp_path / 'img')
    lines = [f'{n} {lab}' for n, lab in zip(names, labels)]
    lines.insert(1, 'cls0/gone.png 0')  # sample 1, line 2
    lines.append('cls2/gone_too.png 2')  # sample 5, line 6
    (tmp_path / 'train.txt').write_text('\n'.join(lines) + '\n')
    return LTListDataset(ann_file=str(tmp_path / 'train.txt'),
                         data_prefix=str(tmp_path / 'img'), num_classes=3,
                         pipeline=PIPELINE, **kwargs)


def test_missing_image_error(tmp_path):
    dataset = _missing_setup(tmp_path)
    assert dataset[0]['data_samples'].gt_label.tolist() == [0]
    with pytest.raises(FileNotFoundError) as info:
        dataset[1]
    message = str(info.value)
    assert 'gone.png' in message and 'train.txt' in message
    assert 'line 2' in message and "on_missing_image='skip'" in message
    assert '\n' not in message
    # an evaluation set is not offered 'skip' (refused with test_mode)
    with pytest.raises(FileNotFoundError) as info:
        _missing_setup(tmp_path, test_mode=True)[1]
    assert 'gone.png' in str(info.value)
    assert 'on_missing_image' not in str(info.value)


def test_missing_image_skip(tmp_path):
    dataset = _missing_setup(tmp_path, on_missing_image='skip',
                             missing_warn_interval=2)
    with pytest.warns(UserWarning, match='skipped 1 missing image'):
        sample = dataset[1]  # -> next sample, cls1/b.png
    assert sample['data_samples'].img_path.endswith('cls1/b.png')
    assert sample['data_samples'].gt_label.tolist() == [1]
    with pytest.warns(UserWarning, match='skipped 2 missing image'):
        sample = dataset[5]  # last sample missing -> wraps to sample 0
    assert sample['data_samples'].img_path.endswith('cls0/a.png')
    dataset[1]  # third skip: no warning (interval 2)
    summary = dataset.missing_summary()
    assert summary['count'] == 3
    assert [Path(p).name for p in summary['examples']] == [
        'gone.png', 'gone_too.png', 'gone.png']


def test_skip_refused_in_test_mode(tmp_path):
    ann = tmp_path / 'val.txt'
    ann.write_text('a.jpg 0\n')
    assert 'test_mode' in _error(ValueError, ann_file=str(ann),
                                 on_missing_image='skip', test_mode=True)
    assert 'on_missing_image' in _error(ValueError, ann_file=str(ann),
                                        on_missing_image='ignore')
