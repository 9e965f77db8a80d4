"""List-file datasets of the large-scale long-tailed benchmarks.

ImageNet-LT, Places-LT and iNaturalist 2018 are distributed as split lists
with one ``<relative/image/path> <label>`` per line (the OLTR / decoupling /
MiSLAS files ``ImageNet_LT_train.txt``, ``Places_LT_val.txt``,
``iNaturalist18_train.txt`` ...). iNaturalist 2018 is also available as the
official COCO-style json (``images[i].file_name`` + ``annotations[j]
.category_id``, matched through the image id); an ``ann_file`` ending in
``.json`` is read in that format.

Storage. A 437,513-image list must neither take long to load nor hold one
Python dict per sample (dataloader workers would copy them all through
reference counting). The dataset therefore keeps

* ``_path_bytes``: one uint8 buffer holding every relative path (for a list
  file: the file's own bytes, read once; for a json: the paths joined);
* ``_path_start`` (int64) / ``_path_len`` (int32): where sample i's path lies;
* ``_labels`` (int64): the label of each sample;
* ``_locations`` (int32): its 1-based line number in the list file (or its
  index in the json ``images`` array), used by error messages;

and builds the per-sample dict only in :meth:`get_data_info`. The list file is
parsed with vectorised numpy operations on its raw bytes (no Python loop per
line). ``serialize_data`` of MMEngine's BaseDataset is not used (the arrays
already are the compact form), so ``data_list`` stays empty.

Missing images. Checking 437k files at load time is too slow on cluster file
systems, so images are checked lazily: when the pipeline raises
``FileNotFoundError`` for sample i's image in :meth:`__getitem__`,

* ``on_missing_image='error'`` (default) raises one message naming the image,
  the list file and the line;
* ``on_missing_image='skip'`` returns the next sample (i+1, i+2, ... wrapping
  around) whose image loads, counts the skipped images and warns (Python
  ``UserWarning``) at the first skip and then every ``missing_warn_interval``
  skips with the count and the first few missing paths;
  :meth:`missing_summary` returns the same numbers. Counts are kept per
  process (each dataloader worker counts its own). 'skip' is refused with
  ``test_mode=True``: evaluation would silently score a neighbouring image.

Per-class counts of the loaded samples are exposed as
``metainfo['class_counts']`` (list of int, length ``num_classes``), the
project-wide convention read by samplers, losses and metrics.
"""
import copy
import json
import os.path as osp
import warnings
from typing import List, NamedTuple, Optional, Sequence, Union

import numpy as np
from mmengine.dataset.base_dataset import force_full_init
from mmengine.fileio import join_path
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

ON_MISSING_IMAGE = ('error', 'skip')
_MAX_LABEL_DIGITS = 18  # int64 holds every 18-digit number
_NUM_MISSING_EXAMPLES = 5
_SPACE, _NEWLINE, _CR, _MINUS, _ZERO, _NINE = 32, 10, 13, 45, 48, 57
_BOM = b'\xef\xbb\xbf'  # UTF-8 byte-order mark (skipped at the start)


class _ParsedSamples(NamedTuple):
    """Compact per-sample arrays produced by the two readers."""
    path_bytes: np.ndarray  # (B,) uint8 buffer holding every path
    path_start: np.ndarray  # (N,) int64 offset of each path in path_bytes
    path_len: np.ndarray  # (N,) int32 byte length of each path
    labels: np.ndarray  # (N,) int64
    locations: np.ndarray  # (N,) int32 line number or json images index
    class_names: Optional[tuple] = None


def _line_text(data: bytes, start: int, end: int) -> str:
    """Line ``data[start:end]`` for an error message (at most 120 chars)."""
    text = data[start:end].decode('utf-8', errors='replace')
    return text if len(text) <= 120 else text[:117] + '...'


def parse_list_bytes(data: bytes, ann_file: str) -> _ParsedSamples:
    """Parse the bytes of a ``<relative/path> <label>`` list file.

    The label is the text after the last space of the line (so paths may
    contain spaces), a non-negative decimal integer. Empty lines are ignored;
    ``\\r\\n`` line ends are accepted. Every step is a numpy operation over
    the whole buffer.

    Args:
        data (bytes): The whole file.
        ann_file (str): Its path, used in error messages only.

    Returns:
        _ParsedSamples: the file buffer with path offsets, labels and
        1-based line numbers.

    Raises:
        ValueError: naming the file and the first bad line: no separating
            space, empty path or label, a label that is not an integer, a
            negative label, or a file without any sample.
    """
    fmt = "expected '<relative/image/path> <integer label>'"
    buf = np.frombuffer(data, dtype=np.uint8)
    line_end = np.flatnonzero(buf == _NEWLINE)
    if len(buf) and buf[-1] != _NEWLINE:
        line_end = np.append(line_end, len(buf))
    line_start = np.empty_like(line_end)
    line_start[:1] = len(_BOM) if data.startswith(_BOM) else 0
    line_start[1:] = line_end[:-1] + 1
    has_cr = (line_end > line_start) & (buf[line_end - 1] == _CR)
    line_end = line_end - has_cr
    line_number = np.flatnonzero(line_end > line_start) + 1
    start = line_start[line_number - 1]
    end = line_end[line_number - 1]
    if len(start) == 0:
        raise ValueError(f'{ann_file}: the list contains no samples; {fmt} '
                         'on each line.')

    # Separator: the last space of each line.
    space = np.flatnonzero(buf == _SPACE)
    k = np.searchsorted(space, end) - 1
    sep = np.where(k >= 0, space[np.maximum(k, 0)] if len(space) else -1, -1)
    bad_sep = (sep <= start) | (sep >= end - 1)
    # 'path  3': the path would end with a space (and later not be found)
    double = ~bad_sep & (buf[np.maximum(sep - 1, 0)] == _SPACE)

    # Label token: optional '-' then decimal digits.
    label_start = np.where(bad_sep, end, sep + 1)
    negative = ~bad_sep & (buf[np.minimum(label_start, len(buf) - 1)]
                           == _MINUS)
    digit_start = label_start + negative
    num_digits = end - digit_start
    bad_label = ~bad_sep & ((num_digits <= 0) |
                            (num_digits > _MAX_LABEL_DIGITS))
    width = int(np.clip(num_digits, 0, _MAX_LABEL_DIGITS).max())
    col = np.arange(max(width, 1))
    in_token = col[None, :] < np.clip(num_digits, 0, width)[:, None]
    chars = buf[np.minimum(digit_start[:, None] + col[None, :], len(buf) - 1)]
    is_digit = (chars >= _ZERO) & (chars <= _NINE)
    bad_label |= ~bad_sep & (in_token & ~is_digit).any(axis=1)

    bad = bad_sep | bad_label | double
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        line = _line_text(data, start[i], end[i])
        if line != line.rstrip():
            problem = 'whitespace at the end of the line'
        elif bad_sep[i]:
            problem = 'no space between path and label'
        elif double[i]:
            problem = 'more than one space before the label'
        else:
            problem = 'the label is not an integer'
        raise ValueError(
            f'{ann_file}: line {line_number[i]}: malformed line {line!r} '
            f'({problem}); {fmt}, fix or remove this line.')

    power = np.clip(num_digits[:, None] - 1 - col[None, :], 0, None)
    digits = np.where(in_token, chars.astype(np.int64) - _ZERO, 0)
    labels = (digits * (10**power)).sum(axis=1)
    labels = np.where(negative, -labels, labels)

    if not data.isascii():
        try:
            data.decode('utf-8')
        except UnicodeDecodeError as err:
            i = int(np.searchsorted(start, err.start, side='right') - 1)
            raise ValueError(
                f'{ann_file}: line {line_number[max(i, 0)]}: not valid UTF-8;'
                ' save the list file as UTF-8.') from None
    # Paths stay where they are in the file buffer: [start, sep) of each line.
    return _ParsedSamples(buf, start, (sep - start).astype(np.int32),
                          labels.astype(np.int64),
                          line_number.astype(np.int32))


def _json_int(value, where: str, ann_file: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'{ann_file}: {where}: {key!r} must be an integer, '
                         f'got {value!r}; fix this entry.')
    return value


def parse_coco_json(ann_file: str) -> _ParsedSamples:
    """Read an iNaturalist-2018-style COCO json.

    Every ``images[i]`` (keys ``id``, ``file_name``) must have exactly one
    label: the ``category_id`` of the ``annotations`` entries whose
    ``image_id`` is its id. Samples keep the order of ``images``; the
    location of sample i is i (its index in ``images``). When ``categories``
    carry ids exactly 0..K-1, their ``name`` s (sorted by id) are returned as
    class names.

    Raises:
        ValueError: naming the file and the offending ``images[i]`` /
            ``annotations[j]`` entry.
    """
    fix = 'fix the entry or use the official iNaturalist 2018 json'
    try:
        with open(ann_file, encoding='utf-8') as f:
            obj = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'{ann_file}: line {err.lineno}: not valid JSON '
                         f'({err.msg}); fix the file.') from None
    if not isinstance(obj, dict):
        raise ValueError(f'{ann_file}: expected a COCO-style object with '
                         f"'images' and 'annotations'; {fix}.")
    for key in ('images', 'annotations'):
        if not isinstance(obj.get(key), list):
            raise ValueError(
                f'{ann_file}: the key {key!r} (a list) is missing; a labelled '
                'COCO-style json needs images[i].file_name and '
                'annotations[j].image_id/category_id.')
    images, annotations = obj['images'], obj['annotations']
    if not images:
        raise ValueError(f"{ann_file}: 'images' is empty; {fix}.")

    label_of = {}
    for j, ann in enumerate(annotations):
        where = f'annotations[{j}]'
        if not isinstance(ann, dict) or not {'image_id', 'category_id'} <= \
                ann.keys():
            raise ValueError(f"{ann_file}: {where}: needs 'image_id' and "
                             f"'category_id'; {fix}.")
        image_id = ann['image_id']
        if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
            raise ValueError(f'{ann_file}: {where}: image_id must be an int '
                             f'or str, got {image_id!r}; {fix}.')
        label = _json_int(ann['category_id'], where, ann_file, 'category_id')
        if label_of.setdefault(image_id, label) != label:
            raise ValueError(
                f'{ann_file}: {where}: image id {image_id!r} has two '
                f'different category ids ({label_of[image_id]} and {label}); '
                'keep one annotation per image.')

    paths, labels = [], np.empty(len(images), dtype=np.int64)
    for i, image in enumerate(images):
        where = f'images[{i}]'
        if not isinstance(image, dict) or not {'id', 'file_name'} <= \
                image.keys() or not isinstance(image['file_name'], str) or \
                not image['file_name'] or isinstance(image['id'], bool) or \
                not isinstance(image['id'], (int, str)):
            raise ValueError(f"{ann_file}: {where}: needs an 'id' (int or "
                             f"str) and a non-empty 'file_name'; {fix}.")
        if image['id'] not in label_of:
            raise ValueError(
                f"{ann_file}: {where} ({image['file_name']!r}): no annotation "
                f"has image_id {image['id']!r}; every image needs a "
                'category_id (the unlabelled test json cannot be used).')
        paths.append(image['file_name'].encode('utf-8'))
        labels[i] = label_of[image['id']]
    if len(label_of) > len(images) or len(
            {im['id'] for im in images}) != len(images):
        known = {im['id'] for im in images}
        extra = [j for j, a in enumerate(annotations)
                 if a['image_id'] not in known]
        if extra:
            raise ValueError(
                f'{ann_file}: annotations[{extra[0]}]: image_id '
                f"{annotations[extra[0]]['image_id']!r} is not the id of any "
                f'image; {fix}.')
        raise ValueError(f'{ann_file}: image ids are not unique; {fix}.')

    path_len = np.fromiter((len(p) for p in paths), dtype=np.int32,
                           count=len(paths))
    path_start = np.zeros(len(paths), dtype=np.int64)
    np.cumsum(path_len[:-1], out=path_start[1:])
    path_bytes = np.frombuffer(b''.join(paths), dtype=np.uint8)

    class_names = None
    categories = obj.get('categories')
    if isinstance(categories, list) and categories and all(
            isinstance(c, dict) and 'id' in c and 'name' in c
            for c in categories):
        ordered = sorted(categories, key=lambda c: c['id'])
        if [c['id'] for c in ordered] == list(range(len(ordered))):
            class_names = tuple(str(c['name']) for c in ordered)
    return _ParsedSamples(path_bytes, path_start, path_len, labels,
                          np.arange(len(images), dtype=np.int32), class_names)


@DATASETS.register_module()
class LTListDataset(BaseDataset):
    """A long-tailed dataset read from a split list (or COCO-style json).

    Args:
        ann_file (str): The split list (``<relative/path> <label>`` per line)
            or, with a ``.json`` extension, a COCO-style json with
            ``images[i].file_name`` and ``annotations[j].category_id``.
            Relative to ``data_root`` unless absolute.
        data_root (str): Root folder of the dataset; must exist when given.
        data_prefix (str | dict): Image folder (relative to ``data_root``
            unless absolute). Defaults to ``''``, i.e. ``data_root``.
        classes (str | Sequence[str], optional): Class names, or a file with
            one name per line (relative to ``data_root`` unless absolute).
        num_classes (int, optional): Number of classes. Every label must lie
            in ``[0, num_classes)``. Defaults to ``len(classes)`` if classes
            are given, else ``max(label) + 1``. Fixed by the named subclasses.
        require_all_classes (bool): Raise if a class has no sample (class-
            aware sampling and label-aware smoothing need every class).
            Defaults to False.
        on_missing_image (str): ``'error'`` or ``'skip'``; see the module
            docstring. Defaults to ``'error'``.
        missing_warn_interval (int): With ``'skip'``, warn at the first
            missing image and then every this many. Defaults to 100.
        metainfo, indices, pipeline, test_mode, lazy_init, max_refetch: as in
            MMPretrain's ``BaseDataset``. ``filter_cfg`` and
            ``serialize_data`` are not supported (storage is always compact).

    The per-sample dict of :meth:`get_data_info` is
    ``dict(img_path=<prefix>/<relative path>, gt_label=<int>,
    sample_idx=<idx>)``.
    """

    #: Number of classes fixed by a named benchmark (None: free).
    NUM_CLASSES: Optional[int] = None

    def __init__(self,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 classes: Union[str, Sequence[str], None] = None,
                 num_classes: Optional[int] = None,
                 require_all_classes: bool = False,
                 on_missing_image: str = 'error',
                 missing_warn_interval: int = 100,
                 metainfo: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000):
        name = type(self).__name__
        if not ann_file:
            raise ValueError(
                f'{name}: ann_file is required; set it to the split list '
                "(e.g. 'ImageNet_LT_train.txt') or a COCO-style .json.")
        if data_root and not osp.isdir(osp.expanduser(data_root)):
            raise FileNotFoundError(
                f'{name}: data_root {data_root!r} does not exist; set '
                'data_root to the dataset folder (or link the data there).')
        if on_missing_image not in ON_MISSING_IMAGE:
            raise ValueError(f'{name}: on_missing_image={on_missing_image!r} '
                             f'is not one of {ON_MISSING_IMAGE}.')
        if on_missing_image == 'skip' and test_mode:
            raise ValueError(
                f"{name}: on_missing_image='skip' is not allowed with "
                'test_mode=True (a neighbouring image would be scored in '
                "place of the missing one); use 'error' for evaluation.")
        if isinstance(missing_warn_interval, bool) or not isinstance(
                missing_warn_interval, int) or missing_warn_interval < 1:
            raise ValueError(f'{name}: missing_warn_interval must be a '
                             f'positive int, got {missing_warn_interval!r}.')
        if self.NUM_CLASSES is not None:
            if num_classes is None:
                num_classes = self.NUM_CLASSES
            elif num_classes != self.NUM_CLASSES:
                raise ValueError(
                    f'{name}: num_classes={num_classes} but {name} has '
                    f'{self.NUM_CLASSES} classes; drop num_classes or use '
                    "type='LTListDataset' for other lists.")
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f'{name}: num_classes must be a positive int, '
                             f'got {num_classes!r}.')
        class_names = self._read_class_names(classes, data_root, name)
        if class_names is not None and num_classes is not None and \
                len(class_names) != num_classes:
            source = classes if isinstance(classes, str) else 'classes'
            raise ValueError(
                f'{name}: {source} gives {len(class_names)} class names but '
                f'num_classes is {num_classes}; make them agree.')

        self.num_classes = num_classes
        self.require_all_classes = bool(require_all_classes)
        self.on_missing_image = on_missing_image
        self.missing_warn_interval = missing_warn_interval
        self._missing_count = 0
        self._missing_examples: List[str] = []
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            indices=indices,
            serialize_data=False,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch,
            classes=class_names)

    @staticmethod
    def _read_class_names(classes, data_root: str, name: str):
        if classes is None:
            return None
        if isinstance(classes, str):
            path = osp.expanduser(classes)
            if not osp.isabs(path) and data_root:
                path = osp.join(osp.expanduser(data_root), path)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{name}: class-name file {path!r} does not exist; give '
                    'a file with one class name per line (relative to '
                    'data_root) or a list of names.')
            with open(path, encoding='utf-8') as f:
                names = f.read().splitlines()
            while names and not names[-1].strip():
                names.pop()
            if not names:
                raise ValueError(f'{name}: {path}: the class-name file is '
                                 'empty; write one class name per line.')
            for lineno, class_name in enumerate(names, 1):
                if not class_name.strip():
                    raise ValueError(
                        f'{name}: {path}: line {lineno} is empty; write one '
                        'class name per line.')
            names = [n.strip() for n in names]
            return tuple(names)
        if isinstance(classes, (list, tuple)) and all(
                isinstance(c, str) for c in classes):
            return tuple(classes)
        raise TypeError(f'{name}: classes must be a file path or a list of '
                        f'names, got {type(classes).__name__}.')

    # ------------------------------------------------------------ loading
    def full_init(self):
        """Read ``ann_file`` into compact arrays and fill the metainfo."""
        if self._fully_initialized:
            return
        name = type(self).__name__
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{name}: ann_file {self.ann_file!r} does not exist; check '
                'data_root and ann_file (the split lists are e.g. '
                'ImageNet_LT_train.txt, Places_LT_val.txt).')
        self._ann_is_json = self.ann_file.lower().endswith('.json')
        if self._ann_is_json:
            parsed = parse_coco_json(self.ann_file)
        else:
            with open(self.ann_file, 'rb') as f:
                parsed = parse_list_bytes(f.read(), self.ann_file)
        self._path_bytes = parsed.path_bytes
        self._path_start = parsed.path_start
        self._path_len = parsed.path_len
        self._labels = parsed.labels
        self._locations = parsed.locations
        if parsed.class_names is not None and 'classes' not in self._metainfo:
            self._metainfo['classes'] = parsed.class_names
        self._check_labels()
        if self._indices is not None:
            self._take(self._indices)
        self._fully_initialized = True
        self._update_class_counts()

    def _where(self, i: int) -> str:
        """Location of sample ``i`` in the annotation file, for messages."""
        loc = int(self._locations[i])
        return f'images[{loc}]' if self._ann_is_json else f'line {loc}'

    def _check_labels(self):
        name, labels = type(self).__name__, self._labels
        negative = np.flatnonzero(labels < 0)
        if len(negative):
            i = int(negative[0])
            raise ValueError(
                f'{self.ann_file}: {self._where(i)}: negative label '
                f'{labels[i]}; labels are class indices 0..num_classes-1, '
                'fix this entry.')
        if self.num_classes is None:
            classes = self._metainfo.get('classes')
            self.num_classes = len(classes) if classes is not None else int(
                labels.max()) + 1
        too_big = np.flatnonzero(labels >= self.num_classes)
        if len(too_big):
            i = int(too_big[0])
            raise ValueError(
                f'{self.ann_file}: {self._where(i)}: label {labels[i]} >= '
                f'num_classes={self.num_classes} ({name}); fix the entry or '
                'num_classes.')

    def _update_class_counts(self):
        counts = np.bincount(self._labels, minlength=self.num_classes)
        self._metainfo['class_counts'] = counts.tolist()
        self._metainfo['num_classes'] = self.num_classes
        if self.require_all_classes and (counts == 0).any():
            empty = np.flatnonzero(counts == 0)
            names = self._metainfo.get('classes')
            shown = ', '.join(
                f'{c} ({names[c]})' if names else str(c) for c in empty[:5])
            more = f' and {len(empty) - 5} more' if len(empty) > 5 else ''
            raise ValueError(
                f'{self.ann_file}: {len(empty)} of {self.num_classes} classes '
                f'have no sample: {shown}{more}; require_all_classes=True '
                '(class-aware sampling / label-aware smoothing need every '
                'class): use the full training list or set '
                'require_all_classes=False.')

    def _take(self, indices: Union[int, Sequence[int]]):
        """Keep the samples selected by ``indices`` (int: first/last n)."""
        n = len(self._labels)
        if isinstance(indices, int):
            sel = np.arange(n)[:indices] if indices >= 0 else \
                np.arange(n)[indices:]
        else:
            sel = np.asarray(indices, dtype=np.int64)
            if sel.ndim != 1 or ((sel < -n) | (sel >= n)).any():
                raise IndexError(f'{type(self).__name__}: indices must be '
                                 f'in [-{n}, {n}), got {indices!r}.')
        self._path_start = self._path_start[sel]
        self._path_len = self._path_len[sel]
        self._labels = self._labels[sel]
        self._locations = self._locations[sel]

    # ---------------------------------------------------- per-sample access
    @force_full_init
    def __len__(self) -> int:
        return len(self._labels)

    @force_full_init
    def relative_path(self, idx: int) -> str:
        """Image path of sample ``idx`` as written in the annotation file."""
        start = int(self._path_start[idx])
        stop = start + int(self._path_len[idx])
        return self._path_bytes[start:stop].tobytes().decode('utf-8')

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """Build ``dict(img_path, gt_label, sample_idx)`` of sample ``idx``."""
        idx = int(idx)
        if idx < 0:
            idx += len(self)
        return dict(
            img_path=join_path(self.img_prefix, self.relative_path(idx)),
            gt_label=int(self._labels[idx]),
            sample_idx=idx)

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        return [int(self._labels[idx])]

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Labels of all samples, shape (N,), int64 (a copy)."""
        return self._labels.copy()

    @force_full_init
    def get_subset_(self, indices: Union[Sequence[int], int]) -> None:
        self._take(indices)
        self._update_class_counts()

    @force_full_init
    def get_subset(self, indices: Union[Sequence[int], int]):
        subset = copy.copy(self)
        subset._metainfo = copy.deepcopy(self._metainfo)
        subset._missing_count, subset._missing_examples = 0, []
        subset.get_subset_(indices)
        return subset

    # ------------------------------------------------------ missing images
    def missing_summary(self) -> dict:
        """``dict(count=<images skipped so far>, examples=[first paths])``.

        Counts of this process only (each dataloader worker keeps its own).
        """
        return dict(count=self._missing_count,
                    examples=list(self._missing_examples))

    def _record_missing(self, path: str):
        self._missing_count += 1
        if len(self._missing_examples) < _NUM_MISSING_EXAMPLES:
            self._missing_examples.append(path)
        if self._missing_count == 1 or \
                self._missing_count % self.missing_warn_interval == 0:
            warnings.warn(
                f'{type(self).__name__} ({self.ann_file}): skipped '
                f'{self._missing_count} missing image(s) so far in this '
                f'process, e.g. {self._missing_examples}; '
                "on_missing_image='skip' returns the next sample instead.",
                UserWarning, stacklevel=3)

    def _missing_error(self, idx: int, path: str) -> FileNotFoundError:
        # skipping is for training sets only (an evaluation would score a
        # neighbouring image)
        skip = '' if self.test_mode else \
            ", or set on_missing_image='skip'"
        return FileNotFoundError(
            f'{type(self).__name__}: image {path!r} ({self.ann_file}, '
            f'{self._where(idx)}) does not exist; fix data_prefix '
            f'(now {self.img_prefix!r}) or the list{skip}.')

    def __getitem__(self, idx: int) -> dict:
        """Run the pipeline on sample ``idx`` (see the module docstring for
        missing images; a pipeline returning None in training draws a random
        other sample, as in MMEngine)."""
        if not self._fully_initialized:
            self.full_init()
        n, idx = len(self), int(idx)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f'{type(self).__name__}: index {idx} out of '
                             f'range for {n} samples.')
        for _ in range(self.max_refetch + 1):
            data_info = self.get_data_info(idx)
            try:
                data = self.pipeline(data_info)
            except FileNotFoundError as err:
                if err.filename not in (None, data_info['img_path']):
                    raise  # another file than this sample's image
                if self.on_missing_image == 'error':
                    raise self._missing_error(
                        idx, data_info['img_path']) from None
                self._record_missing(data_info['img_path'])
                idx = (idx + 1) % n
                continue
            if data is None:
                if self.test_mode:
                    raise RuntimeError(
                        f'{type(self).__name__}: the test pipeline returned '
                        f'None for {data_info["img_path"]!r}.')
                idx = self._rand_another()
                continue
            return data
        raise RuntimeError(
            f'{type(self).__name__}: no loadable sample after '
            f'{self.max_refetch + 1} tries ({self._missing_count} missing '
            f'images, e.g. {self._missing_examples}); check data_prefix '
            f'{self.img_prefix!r}.')

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Number of classes: \t{self.num_classes}')
        body.append(f'On missing image: \t{self.on_missing_image}')
        return body


@DATASETS.register_module()
class ImageNetLT(LTListDataset):
    """ImageNet-LT (Liu et al., 2019): 1,000 classes; train 115,846 images
    (1,280 to 5 per class), val 20 and test 50 per class."""
    NUM_CLASSES = 1000


@DATASETS.register_module()
class PlacesLT(LTListDataset):
    """Places-LT (Liu et al., 2019): 365 classes; train 62,500 images
    (4,980 to 5 per class), val 20 and test 100 per class."""
    NUM_CLASSES = 365


@DATASETS.register_module()
class INat2018(LTListDataset):
    """iNaturalist 2018: 8,142 classes; train 437,513 images (1,000 to 2
    per class), val 3 per class. Accepts the split list or the official
    COCO-style json (``train2018.json`` / ``val2018.json``)."""
    NUM_CLASSES = 8142
