"""Give the training class counts to every module that needs them.

Count-dependent modules (LDAM margins, Balanced Softmax / logit-adjusted
losses, Remix) are built with ``class_counts=None``: a model is built
before any data is read. Before the run (training, validation or test),
this hook reads the per-class counts of ``train_dataloader.dataset`` (the
built training set when the runner trains, else the config's
``train_dataloader.dataset``, built without its pipeline, as
``LongTailMetric`` does) and calls ``set_class_counts(counts)`` on every
such module of the model, including the batch augmentations of the data
preprocessor. A model without one costs nothing: no dataset is built.
Every config has it (``default_hooks.class_counts`` in
``configs/_base_/default_runtime.py``).
"""
from typing import Iterator, List, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmpretrain.registry import HOOKS

from lcreg.evaluation.long_tail_metric import class_counts_from_dataset_cfg
from lcreg.models.losses.class_counts import check_class_counts


def unwrapped(model):
    return model.module if is_model_wrapper(model) else model


def count_consumers(model) -> Iterator[Tuple[str, object]]:
    """``(name, module)`` of every part of ``model`` with
    ``set_class_counts``: its modules and the data preprocessor's batch
    augmentations (plain objects, not modules)."""
    model = unwrapped(model)
    for name, module in model.named_modules():
        if hasattr(module, 'set_class_counts'):
            yield name, module
    preprocessor = getattr(model, 'data_preprocessor', None)
    wrapper = getattr(preprocessor, 'batch_augments', None)
    for i, augment in enumerate(getattr(wrapper, 'augments', None) or []):
        if hasattr(augment, 'set_class_counts'):
            yield f'data_preprocessor.batch_augments.augments[{i}]', augment


def training_class_counts(runner, where: str) -> List[int]:
    """Per-class counts of the run's training set (see module doc)."""
    loop = getattr(runner, '_train_loop', None)
    if isinstance(loop, BaseLoop):
        dataset = loop.dataloader.dataset
        counts = (getattr(dataset, 'metainfo', None) or {}).get(
            'class_counts')
        if counts is not None:
            return check_class_counts(counts, where)
    dataset_cfg = (runner.cfg.get('train_dataloader') or {}).get('dataset')
    if not dataset_cfg:
        raise ValueError(
            f'{where}: the model needs the training class counts, but the '
            'config has no train_dataloader.dataset to read them from: keep '
            "the training set's config in the file used for testing.")
    return check_class_counts(class_counts_from_dataset_cfg(dataset_cfg),
                              where)


@HOOKS.register_module()
class ClassCountsHook(Hook):
    """Call ``set_class_counts`` before the run (module docstring)."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        consumers = list(count_consumers(runner.model))
        if not consumers:
            return
        counts = training_class_counts(
            runner, f'ClassCountsHook (for model.{consumers[0][0]})')
        for _, module in consumers:
            module.set_class_counts(counts)
        names = ', '.join(name for name, _ in consumers)
        runner.logger.info(f'class counts of train_dataloader.dataset '
                           f'({len(counts)} classes, {sum(counts)} images, '
                           f'max {max(counts)}, min {min(counts)}) set on '
                           f'{names}')
