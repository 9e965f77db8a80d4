"""Results of configs × seeds: mean ± std, as ``table.md`` and ``table.json``.

Each run contributes

* its **final epoch** test metrics (``tools/test.py --out``, the headline):
  overall top-1, many / medium / few under both split rules (``lt/rank_*``,
  MiSLAS' rank ranges; ``lt/threshold_*``, > 100 / < 20 training images) and
  ECE;
* its **best test epoch** (the literature's protocol, optimistic): the highest
  validation ``lt/top1`` from the epoch the protocol starts at, read from the
  run's ``vis_data/scalars.json`` files (the validation set of the recipes is
  their test set);
* its wall time and hardware.

Mean and standard deviation are over seeds; the standard deviation is the
sample one (n − 1), undefined (shown as "–") for a single seed.
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from lcreg.evaluation.split_table import dump_metrics_json

#: (column title, metric key without the ``lt/`` prefix).
FINAL_COLUMNS = (('top-1', 'top1'), ('ECE', 'ece'))
RULES = (('rank', 'rank rule (MiSLAS ranges)'),
         ('threshold', 'threshold rule (training-count thresholds)'))
GROUPS = ('many', 'medium', 'few')
BEST_TITLE = "best test epoch (literature's protocol, optimistic)"
STAGE1_TITLE = 'stage 1: final / best validated epoch'


def read_test_metrics(path: str) -> Dict[str, float]:
    """The metrics of a ``tools/test.py --out`` JSON file (``null`` → NaN).

    Raises ValueError naming the file when it is missing, is not JSON, or
    has no ``lt/top1``.
    """
    if not osp.isfile(path):
        raise ValueError(f'{path} is missing')
    try:
        with open(path, encoding='utf-8') as f:
            metrics = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'{path} is not a valid JSON file ({err})') \
            from None
    if not isinstance(metrics, dict) or not isinstance(
            metrics.get('lt/top1'), (int, float)):
        raise ValueError(f"{path} has no number under 'lt/top1' (not a "
                         'LongTailMetric test result)')
    return {k: (math.nan if v is None else v) for k, v in metrics.items()}


def read_val_history(work_dir: str) -> List[Tuple[int, Dict[str, float]]]:
    """``[(epoch, {'lt/top1': ..., ...}), ...]`` of every validation logged in
    ``work_dir/<timestamp>/vis_data/scalars.json``, by epoch.

    A resumed run logs into a new timestamp folder; an epoch validated twice
    (trained again after a kill) keeps its latest record.
    """
    history: Dict[int, Dict[str, float]] = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if 'lt/top1' in record and 'step' in record:
                    history[int(record['step'])] = record
    return sorted(history.items())


def best_test_epoch(history, begin: int) -> Optional[Tuple[int, float]]:
    """``(epoch, top-1)`` of the best validation after epoch ``begin``
    (1-based epochs ``> begin``; the earliest on ties), or None."""
    candidates = [(epoch, rec['lt/top1']) for epoch, rec in history
                  if epoch > begin]
    if not candidates:
        return None
    return max(candidates, key=lambda item: (item[1], -item[0]))


def stage1_summary(history, stage1_epochs: Optional[int]
                   ) -> Optional[dict]:
    """Stage 1 of a two-stage run from its validations: ``{'epochs': S,
    'final': top-1 of the epoch-S validation (None if not validated),
    'best_epoch', 'best': the best validation of epochs 1..S, 'validated':
    how many stage-1 epochs were validated}``; None for a one-stage run or
    when no stage-1 epoch was validated."""
    if not stage1_epochs:
        return None
    records = [(epoch, rec['lt/top1']) for epoch, rec in history
               if 1 <= epoch <= stage1_epochs]
    if not records:
        return None
    best = max(records, key=lambda item: (item[1], -item[0]))
    final = dict(records).get(stage1_epochs)
    return dict(epochs=int(stage1_epochs), final=final, best_epoch=best[0],
                best=best[1], validated=len(records))


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (NaN for fewer than 2 values);
    NaN values are left out."""
    values = [float(v) for v in values if v is not None
              and not math.isnan(float(v))]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def run_values(run: dict) -> Dict[str, float]:
    """The tabulated numbers of one run record (see :func:`aggregate`)."""
    metrics = run.get('metrics') or {}
    values = {key: metrics.get(f'lt/{key}', math.nan)
              for _, key in FINAL_COLUMNS}
    for rule, _ in RULES:
        for group in GROUPS:
            key = f'{rule}_{group}'
            values[key] = metrics.get(f'lt/{key}', math.nan)
    best = run.get('best_test_epoch')
    values['best_top1'] = best['top1'] if best else math.nan
    stage1 = run.get('stage1') or {}
    for key in ('final', 'best'):
        value = stage1.get(key)
        values[f'stage1_{key}'] = math.nan if value is None else value
    values['wall_minutes'] = (run.get('train_seconds', math.nan)
                              + run.get('test_seconds', 0.0)) / 60
    return values


def aggregate(runs: Sequence[dict]) -> List[dict]:
    """One row per config, in first-seen order.

    Args:
        runs: run records ``{'config', 'seed', 'metrics' (test JSON),
            'best_test_epoch' ({'epoch', 'top1'} or None), 'train_seconds',
            'test_seconds', 'hardware' (str)}``.

    Returns:
        ``[{'config', 'seeds', 'hardware', 'mean': {...}, 'std': {...}}]``
        with the keys of :func:`run_values`.
    """
    rows: Dict[str, dict] = {}
    for run in runs:
        row = rows.setdefault(run['config'], dict(
            config=run['config'], seeds=[], hardware=[], values=[]))
        row['seeds'].append(run['seed'])
        if run.get('hardware') not in row['hardware']:
            row['hardware'].append(run.get('hardware'))
        row['values'].append(run_values(run))
    table = []
    for row in rows.values():
        keys = row['values'][0].keys()
        stats = {k: mean_std([v[k] for v in row['values']]) for k in keys}
        table.append(dict(
            config=row['config'], seeds=row['seeds'],
            hardware=row['hardware'],
            mean={k: s[0] for k, s in stats.items()},
            std={k: s[1] for k, s in stats.items()}))
    return table


def _cell(row: dict, key: str, digits: int = 2) -> str:
    mean, std = row['mean'][key], row['std'][key]
    if math.isnan(mean):
        return 'n/a'
    if math.isnan(std):
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def format_markdown(table: Sequence[dict], title: str = '') -> str:
    """The rows of :func:`aggregate` as a Markdown table (final epoch first,
    then the other rule, the best test epoch, wall time, hardware)."""
    header = ['config', 'seeds', 'top-1 (final epoch)']
    for _, name in RULES:
        header.append(f'{name}: many / medium / few')
    header += ['ECE', BEST_TITLE, STAGE1_TITLE, 'wall time per run (min)',
               'hardware, precision']
    lines = [f'# {title}', ''] if title else []
    lines += ['| ' + ' | '.join(header) + ' |',
              '|' + '---|' * len(header)]
    for row in table:
        cells = [f"`{row['config']}`",
                 ', '.join(str(s) for s in row['seeds']),
                 _cell(row, 'top1')]
        for rule, _ in RULES:
            cells.append(' / '.join(_cell(row, f'{rule}_{g}')
                                    for g in GROUPS))
        cells += [_cell(row, 'ece'), _cell(row, 'best_top1'),
                  _cell(row, 'stage1_final') + ' / '
                  + _cell(row, 'stage1_best'),
                  _cell(row, 'wall_minutes', 1),
                  '; '.join(str(h) for h in row['hardware'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'mean ± sample std over seeds; "n/a": no such value '
              '(e.g. no few-shot class under the thresholds, or the best-'
              'test-epoch protocol not run). Stage 1: the validation after '
              'the last stage-1 epoch and the best validated stage-1 epoch '
              '(every epoch only with --best-test-epoch all, else every '
              '`val_interval` epochs; both on the test set).']
    return '\n'.join(lines) + '\n'


def write_table(runs: Sequence[dict], work_dir: str, title: str = '',
                extra: Optional[dict] = None) -> Tuple[str, str]:
    """Write ``work_dir/table.md`` and ``work_dir/table.json`` (the
    aggregate, every run record and ``extra``); returns both paths."""
    table = aggregate(runs)
    md_path = osp.join(work_dir, 'table.md')
    with open(md_path, 'w', encoding='utf-8') as f:
        f.write(format_markdown(table, title))
    json_path = dump_metrics_json(
        dict(extra or {}, title=title, rows=table, runs=list(runs)),
        osp.join(work_dir, 'table.json'))
    return md_path, json_path
