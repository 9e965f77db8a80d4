"""Per-class training counts for modules that re-balance by class frequency.

Losses, heads and batch augmentations of the long-tailed baselines (LDAM,
Balanced Softmax, logit adjustment, Remix, class-balanced weights) need the
number of training images ``n_j`` of every class j. Models are built before
any data is read (``tests/test_configs`` builds every config's model without
data), so these modules take ``class_counts=None`` and receive the counts
later through ``set_class_counts(counts)``:
:class:`lcreg.engine.hooks.ClassCountsHook` (in every config's
``default_hooks``) calls it before the run with the counts of
``train_dataloader.dataset``. A module whose counts are still unset when
they are first needed raises :func:`counts_not_set_error`.
"""
from typing import List, Optional, Sequence

import torch


def check_class_counts(class_counts: Optional[Sequence[int]],
                       where: str) -> List[int]:
    """Validate a per-class count vector and return it as a list of int.

    Args:
        class_counts (Sequence[int]): training samples per class, index =
            label; every entry a positive integer.
        where (str): the module name that starts every error message.

    Returns:
        list[int]: the counts, shape (C,).
    """
    if class_counts is None:
        raise ValueError(
            f"{where}: class_counts is required: pass the training set's "
            "metainfo['class_counts'] (list of int, one per class).")
    counts = list(class_counts)
    if not counts:
        raise ValueError(f'{where}: class_counts is empty; it must hold the '
                         'number of training samples of every class.')
    for j, n in enumerate(counts):
        if isinstance(n, bool) or not float(n).is_integer() or n <= 0:
            raise ValueError(
                f'{where}: class_counts[{j}] = {n!r}; every count must be a '
                'positive integer (a class without training samples has no '
                'place in the count vector of a long-tailed training set).')
    return [int(n) for n in counts]


def counts_not_set_error(where: str) -> ValueError:
    """The error of a module used before its class counts were given."""
    return ValueError(
        f'{where}: class_counts is not set. It is filled before the run by '
        "ClassCountsHook (default_hooks.class_counts in "
        'configs/_base_/default_runtime.py) from train_dataloader.dataset: '
        "keep default_hooks.class_counts=dict(type='ClassCountsHook'); "
        'outside a Runner pass class_counts=[n_0, ..., n_C-1] or call '
        'set_class_counts([...]).')


class ClassCountsMixin:
    """``class_counts`` / ``set_class_counts`` for count-dependent modules.

    A subclass calls ``self._init_class_counts(class_counts)`` in its
    ``__init__`` and implements ``_on_class_counts(counts)`` (counts: list of
    int, already checked) to derive its per-class tensors; before using them
    it calls ``self.require_class_counts()``.
    """

    def _init_class_counts(self, class_counts: Optional[Sequence[int]]):
        self.class_counts = None
        if class_counts is not None:
            self.set_class_counts(class_counts)

    def set_class_counts(self, class_counts: Sequence[int]) -> None:
        """Set the training counts (C,) and derive the per-class tensors."""
        counts = check_class_counts(class_counts, type(self).__name__)
        self._on_class_counts(counts)
        self.class_counts = counts

    def _on_class_counts(self, counts: List[int]) -> None:
        raise NotImplementedError

    def require_class_counts(self, num_classes: Optional[int] = None):
        """Raise the clear error when the counts are unset, or when their
        length differs from ``num_classes`` (the width of the logits)."""
        where = type(self).__name__
        if self.class_counts is None:
            raise counts_not_set_error(where)
        if num_classes is not None and len(self.class_counts) != num_classes:
            raise ValueError(
                f'{where}: class_counts has {len(self.class_counts)} entries '
                f'but the scores have {num_classes} classes: the model\'s '
                'num_classes must match train_dataloader.dataset.')
