"""Text table and JSON dump of the long-tailed metrics (used by ``tools/test.py``).

Input is the flat dict returned by ``Runner.test()`` / ``Evaluator.evaluate()`` with
:class:`~lcreg.evaluation.LongTailMetric` keys, e.g. ``{'lt/top1': 47.6, 'lt/many':
64.2, ..., 'lt/num_many': 35, ..., 'lt/per_class': [...]}``.
"""
import json
import math
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch

COLUMNS = (('overall', 'top1'), ('many', 'many'), ('medium', 'medium'),
           ('few', 'few'), ('ECE', 'ece'))


def _format_value(value, digits: int = 2) -> str:
    value = float(value)
    return 'n/a' if math.isnan(value) else f'{value:.{digits}f}'


def format_split_table(metrics: dict,
                       title: Optional[str] = None,
                       prefix: str = 'lt',
                       digits: int = 2) -> str:
    """Format overall / many / medium / few top-1, ECE and group sizes.

    Example output::

        CIFAR-100-LT IF100
                   overall   many  medium    few    ECE
        top-1 (%)    47.60  64.20   49.20  25.30   4.00
        classes        100     35      35     30

    A group without classes (NaN accuracy) is shown as ``n/a``.

    Args:
        metrics (dict): metric dict with ``{prefix}/top1``, ``/many``, ``/medium``,
            ``/few``, ``/ece`` and ``/num_many``, ``/num_medium``, ``/num_few``.
        title (str, optional): a line printed above the table.
        prefix (str): the metric's prefix. Defaults to ``'lt'``.
        digits (int): decimals of the percentages. Defaults to 2.

    Returns:
        str: the table, lines joined by newlines (no trailing newline).
    """
    needed = [key for _, key in COLUMNS] + [f'num_{g}' for g in
                                            ('many', 'medium', 'few')]
    missing = [f'{prefix}/{key}' for key in needed
               if f'{prefix}/{key}' not in metrics]
    if missing:
        raise KeyError(
            f'format_split_table: metrics lack {missing} (got keys '
            f'{sorted(metrics)}); evaluate with LongTailMetric, or pass the '
            f"prefix it uses (prefix='{prefix}' now).")
    header = ['', *[name for name, _ in COLUMNS]]
    accuracy_row = ['top-1 (%)'] + [
        _format_value(metrics[f'{prefix}/{key}'], digits)
        for _, key in COLUMNS
    ]
    total_classes = sum(
        int(metrics[f'{prefix}/num_{g}']) for g in ('many', 'medium', 'few'))
    classes_row = ['classes', str(total_classes)] + [
        str(int(metrics[f'{prefix}/num_{g}']))
        for g in ('many', 'medium', 'few')
    ] + ['']
    rows = [header, accuracy_row, classes_row]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [] if title is None else [title]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append('  '.join(cells).rstrip())
    return '\n'.join(lines)


def _to_json(value):
    """Turn tensors / arrays / numpy scalars into JSON values; NaN -> None."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(
        f'dump_metrics_json: cannot write a {type(value).__name__} value to '
        'JSON; metrics must be numbers, strings, lists or tensors.')


def dump_metrics_json(metrics: dict, path: str) -> str:
    """Write ``metrics`` as strict JSON (NaN / inf become ``null``).

    Tensors and numpy values are converted to lists / numbers; the parent folder
    is created. Returns ``path``.
    """
    content = _to_json(dict(metrics))
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(content, f, indent=2, allow_nan=False)
        f.write('\n')
    return path
