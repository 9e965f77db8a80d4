"""Training curves from MMEngine's JSON scalar logs.

``LocalVisBackend`` writes ``<work_dir>/<timestamp>/vis_data/scalars.json``:
one JSON object per line. Training lines carry ``iter`` and ``epoch`` (and
``step`` = iter); validation lines carry the metrics and ``step`` = epoch
(without ``iter``). A key found in training lines (losses, lr) is plotted
against the iteration, a key found only in validation lines (``lt/top1``)
against the epoch.
"""
import json
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np


def read_scalar_log(path: str) -> List[Dict[str, object]]:
    """The records of a scalars JSON log, one dict per non-empty line.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not a JSON object (file and line named).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: no such log; MMEngine writes it to '
            '<work_dir>/<timestamp>/vis_data/scalars.json.')
    records = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{number}: not a JSON line ({err}); '
                                 'expected one JSON object per line as '
                                 'MMEngine writes scalars.json.') from None
            if not isinstance(record, dict):
                raise ValueError(f'{path}:{number}: expected a JSON object, '
                                 f'got {type(record).__name__}.')
            records.append(record)
    return records


def extract_curve(records: List[Dict[str, object]],
                  key: str) -> Tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, x_name)`` of one scalar.

    Training records (with ``iter``) are used when the key appears in any of
    them, x = ``iter`` and ``x_name = 'iteration'``; otherwise the
    validation records, x = ``step`` (the epoch), ``x_name = 'epoch'``.
    A resumed run that logs an x twice keeps the last value.

    Raises:
        KeyError: the key is in no record (the available keys are named).
    """
    train = [r for r in records if 'iter' in r and key in r]
    if train:
        x_key, x_name, chosen = 'iter', 'iteration', train
    else:
        chosen = [r for r in records if 'iter' not in r and key in r]
        x_key, x_name = 'step', 'epoch'
    if not chosen:
        available = sorted({k for r in records for k in r} -
                           {'iter', 'epoch', 'step'})
        raise KeyError(f'no record has the key {key!r}; available: '
                       f'{available}')
    by_x = {}
    for record in chosen:
        if x_key not in record:
            raise ValueError(f'a record with {key!r} has no {x_key!r}: '
                             f'{record}')
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'{key!r} is not a scalar (got '
                             f'{type(value).__name__}); plot numeric keys.')
        by_x[record[x_key]] = value
    xs = np.array(sorted(by_x), dtype=np.float64)
    ys = np.array([by_x[x] for x in sorted(by_x)], dtype=np.float64)
    return xs, ys, x_name


def run_label(path: str) -> str:
    """Name of a run from its log path: the work dir of
    ``<work_dir>/<timestamp>/vis_data/scalars.json``, else the file stem."""
    parts = osp.normpath(osp.abspath(path)).split(osp.sep)
    if len(parts) >= 4 and parts[-2] == 'vis_data':
        return parts[-4]
    return osp.splitext(osp.basename(path))[0]
