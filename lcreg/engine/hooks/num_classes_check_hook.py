"""Refuse to run when the model's number of classes differs from the data's.

A classifier with ``model.head.num_classes=100`` trained on a 10-class
dataset runs without any error (labels 0..9 are valid indices of 100
logits) and silently produces a wrong model; the opposite case fails deep
inside the loss with an index error. :class:`NumClassesCheckHook` compares,
before training, validation and testing,

* ``model.head.num_classes`` (and ``data_preprocessor.num_classes``, used
  by mixup's one-hot labels, when set),
* ``len(dataset.metainfo['classes'])`` and
* ``len(dataset.metainfo['class_counts'])`` (per-class training counts,
  the toolbox convention),

and raises one ``ValueError`` naming the config keys and the dataset.

Before training it also compares the per-class training counts of the
validation metric (``val_evaluator.train_dataset`` of
:class:`LongTailMetric`, a separate copy of the training-set config) with
those of ``train_dataloader.dataset``: overriding only one of them (say
``train_dataloader.dataset.imbalance_factor``) would otherwise report
many / medium / few groups of another training set.
"""
from typing import List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmpretrain.registry import HOOKS


def _dataset_name(dataset) -> str:
    name = type(dataset).__name__
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and not isinstance(inner, (dict, list)):
        name += f' of {type(inner).__name__}'
    return name


def dataset_num_classes(dataset) -> List[Tuple[str, int]]:
    """``[(source, number)]`` read from the dataset's metainfo."""
    metainfo = getattr(dataset, 'metainfo', None) or {}
    found = []
    if metainfo.get('classes') is not None:
        found.append(("len(metainfo['classes'])", len(metainfo['classes'])))
    if metainfo.get('class_counts') is not None:
        found.append(("len(metainfo['class_counts'])",
                      len(metainfo['class_counts'])))
    return found


def model_num_classes(model) -> List[Tuple[str, int]]:
    """``[(config key, number)]`` of the model's class-count settings."""
    if is_model_wrapper(model):
        model = model.module
    found = []
    head_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
    if isinstance(head_classes, int):
        found.append(('model.head.num_classes', head_classes))
    pre_classes = getattr(getattr(model, 'data_preprocessor', None),
                          'num_classes', None)
    if isinstance(pre_classes, int):
        found.append(('data_preprocessor.num_classes', pre_classes))
    return found


def check_num_classes(model, dataset, where: str) -> None:
    """Raise ``ValueError`` if the model and ``dataset`` disagree.

    Args:
        model: the (possibly DDP-wrapped) classifier.
        dataset: a dataset with ``metainfo``.
        where (str): its config key, e.g. ``'train_dataloader.dataset'``.
    """
    model_side = model_num_classes(model)
    data_side = dataset_num_classes(dataset)
    if not data_side:
        return
    data_n = data_side[0][1]
    name = _dataset_name(dataset)
    counts = dict(data_side)
    if len(set(counts.values())) > 1:
        raise ValueError(
            f'{where} ({name}) is inconsistent: '
            + ', '.join(f'{k}={v}' for k, v in data_side)
            + '; every class needs a name and a training count.')
    wrong = [(key, n) for key, n in model_side if n != data_n]
    if wrong:
        keys = ', '.join(f'{key}={n}' for key, n in wrong)
        fix = ' '.join(f'{key}={data_n}' for key, _ in wrong)
        raise ValueError(
            f'{keys} but {where} ({name}) has {data_n} classes '
            f'({data_side[0][0]}); set {fix} (e.g. --cfg-options {fix}) or '
            f'use the dataset the config was written for.')


def _describe(counts) -> str:
    return (f'{len(counts)} classes, {sum(counts)} images, '
            f'{max(counts)} to {min(counts)} per class')


def check_metric_counts(dataset, evaluator, where: str) -> None:
    """Raise ``ValueError`` if a metric of ``evaluator`` groups classes by
    other training counts than ``dataset.metainfo['class_counts']``."""
    train = (getattr(dataset, 'metainfo', None) or {}).get('class_counts')
    metrics = getattr(evaluator, 'metrics', None) or []
    if train is None:
        return
    train = [int(c) for c in train]
    for i, metric in enumerate(metrics):
        if not hasattr(metric, 'class_counts'):
            continue
        counts = list(metric.class_counts)
        if counts == train:
            continue
        key = where if len(metrics) == 1 else f'{where}.{i}'
        source = ('train_dataset' if getattr(metric, 'train_dataset', None)
                  else 'class_counts')
        raise ValueError(
            f'{key}.{source} ({type(metric).__name__}) has the training '
            f'counts {_describe(counts)}, but train_dataloader.dataset has '
            f'{_describe(train)}: the many / medium / few groups would be '
            f'those of another training set. Give both the same settings '
            f'(e.g. imbalance_factor, ann_file, data_root, indices in both '
            f'{key}.{source} and train_dataloader.dataset).')


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Check the number of classes of model and data before each phase.

    ``before_run`` checks every dataloader the Runner has built by then
    (training: train and val; testing: test), before a checkpoint is loaded,
    so a mismatch stops the run with this message instead of the size
    mismatch warnings of the checkpoint loader. ``before_train``,
    ``before_val`` and ``before_test`` check the loops built later. Each
    dataset is checked once. See the module docstring.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._checked: set = set()

    def _check(self, runner, loop, where: str) -> None:
        if not isinstance(loop, BaseLoop) or where in self._checked:
            return
        dataset: Optional[object] = getattr(loop.dataloader, 'dataset', None)
        if dataset is not None:
            check_num_classes(runner.model, dataset, where)
        self._checked.add(where)

    def before_run(self, runner) -> None:
        # The loops the Runner has built so far (the properties would build
        # the others, e.g. the train dataloader of a test run).
        for attr, where in (('_train_loop', 'train_dataloader.dataset'),
                            ('_val_loop', 'val_dataloader.dataset'),
                            ('_test_loop', 'test_dataloader.dataset')):
            self._check(runner, getattr(runner, attr, None), where)

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_loop, 'train_dataloader.dataset')
        val_loop = getattr(runner, '_val_loop', None)
        if isinstance(val_loop, BaseLoop):
            check_metric_counts(runner.train_loop.dataloader.dataset,
                                val_loop.evaluator, 'val_evaluator')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_loop, 'val_dataloader.dataset')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_loop, 'test_dataloader.dataset')
