"""Per-class accuracy ordered from head to tail classes.

Input: the metrics JSON of ``tools/test.py`` (:class:`LongTailMetric` keys
``lt/per_class``, ``lt/num_many``, ``lt/num_medium``, ``lt/num_few``; NaN is
written as ``null``) and the training image count of every class.
"""
import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

GROUPS = ('many', 'medium', 'few')


def load_test_metrics(path: str, prefix: str = 'lt') -> Dict[str, object]:
    """Read the per-class numbers of a ``tools/test.py`` metrics JSON.

    Returns:
        dict with ``per_class`` ((C,) float array in percent, NaN where the
        JSON has null), ``num_many`` / ``num_medium`` / ``num_few`` (int),
        ``top1`` (float or NaN), and ``class_counts`` ((C,) int array, or
        None when the JSON has no ``{prefix}/class_counts``).
    """
    try:
        with open(path, encoding='utf-8') as f:
            metrics = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: no such metrics file; write one '
                                'with tools/test.py CONFIG CKPT --out '
                                f'{path}.') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not a JSON file ({err}).') from None
    if not isinstance(metrics, dict):
        raise ValueError(f'{path}: expected a JSON object of metrics.')
    needed = [f'{prefix}/per_class'] + [f'{prefix}/num_{g}' for g in GROUPS]
    missing = [key for key in needed if key not in metrics]
    if missing:
        raise KeyError(f'{path}: the metrics lack {missing}; evaluate with '
                       "LongTailMetric (per_class=True) via tools/test.py "
                       f"--out, or pass the metric's prefix (now {prefix!r}).")
    per_class = np.array(
        [np.nan if v is None else float(v) for v in metrics[needed[0]]])
    counts = metrics.get(f'{prefix}/class_counts')
    top1 = metrics.get(f'{prefix}/top1')
    return dict(
        per_class=per_class,
        top1=float('nan') if top1 is None else float(top1),
        class_counts=None if counts is None else np.asarray(counts,
                                                            dtype=np.int64),
        **{f'num_{g}': int(metrics[f'{prefix}/num_{g}']) for g in GROUPS})


def head_to_tail_order(class_counts: Sequence[int]) -> np.ndarray:
    """Class labels sorted by decreasing training count (ties: lower label
    first, the order of the metric's rank split)."""
    return np.argsort(-np.asarray(class_counts), kind='stable')


def split_bands(num_many: int, num_medium: int,
                num_few: int) -> List[Tuple[str, int, int]]:
    """Rank ranges ``(group, start, stop)`` of the groups in head-to-tail
    order; empty groups are left out.

    The metric's groups are contiguous in that order (many = the largest
    counts, few = the smallest), for both of its split modes.
    """
    bands, start = [], 0
    for name, size in zip(GROUPS, (num_many, num_medium, num_few)):
        if size < 0:
            raise ValueError(f'split_bands: num_{name}={size} is negative.')
        if size:
            bands.append((name, start, start + size))
        start += size
    return bands


def band_means(accuracy_sorted: np.ndarray,
               bands: Sequence[Tuple[str, int, int]]) -> Dict[str, float]:
    """Mean accuracy of each band, classes without test samples (NaN) left
    out (as the metric averages a group)."""
    means = {}
    for name, start, stop in bands:
        values = np.asarray(accuracy_sorted[start:stop], dtype=np.float64)
        values = values[~np.isnan(values)]
        means[name] = float(values.mean()) if len(values) else math.nan
    return means


def check_same_classes(results: Sequence[Dict[str, object]],
                       names: Sequence[str],
                       class_counts: Optional[np.ndarray]) -> None:
    """Every result must describe the same classes and groups."""
    first = results[0]
    for result, name in zip(results, names):
        if len(result['per_class']) != len(first['per_class']):
            raise ValueError(
                f'{name} has {len(result["per_class"])} classes but '
                f'{names[0]} has {len(first["per_class"])}; plot runs of the '
                'same dataset together.')
        groups = [result[f'num_{g}'] for g in GROUPS]
        if groups != [first[f'num_{g}'] for g in GROUPS]:
            raise ValueError(
                f'{name} splits the classes into many/medium/few = {groups}, '
                f'{names[0]} into '
                f'{[first[f"num_{g}"] for g in GROUPS]}; evaluate the runs '
                'with the same LongTailMetric settings.')
    if class_counts is not None and len(class_counts) != len(
            first['per_class']):
        raise ValueError(
            f'{len(class_counts)} class counts for {len(first["per_class"])}'
            ' classes; use the config of the dataset the runs were tested on.')
