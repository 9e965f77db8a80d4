"""Per-class accuracy against training-class frequency, several runs.

Reads the metrics JSON of ``tools/test.py`` (``lt/per_class``,
``lt/num_many|medium|few``) of each run, orders the classes from head to
tail by training images, and draws each run's per-class accuracy (left
axis) over the training counts (grey bars, right axis, log scale), with the
many / medium / few groups of the metric shaded and their mean accuracy in
the legend.

The training counts come from ``lt/class_counts`` of the JSON when it has
them, else from ``--config`` (the ``LongTailMetric`` of its evaluator, or
its training set).

Example::

    python tools/analysis/per_class_accuracy.py \\
        work_dirs/mislas/test.json work_dirs/lcreg/test.json \\
        --labels MiSLAS LCReg \\
        --config configs/lcreg/resnet32_cifar10-lt-if100.py --out per_class.png
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))  # run from a checkout without installing

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.analysis import per_class as pc  # noqa: E402
from lcreg.utils.cli import run_cli  # noqa: E402

DPI = 100
FIG_INCHES = (10, 5)  # -> 1000 x 500 pixels
BAND_COLORS = dict(many='tab:green', medium='tab:orange', few='tab:red')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot per-class accuracy of one or more runs against '
        'the training count of each class (head to tail).')
    parser.add_argument('results', nargs='+', metavar='RESULT.json',
                        help='metrics JSON files written by tools/test.py')
    parser.add_argument('--labels', nargs='+',
                        help='one legend label per JSON (default: the '
                        'file names)')
    parser.add_argument('--config',
                        help='config giving the training class counts (needed '
                        'when the JSON has no lt/class_counts)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override keys of --config')
    parser.add_argument('--prefix', default='lt',
                        help="the metric's key prefix (default: lt)")
    parser.add_argument('--out', default='work_dirs/per_class_accuracy.png',
                        help='PNG file (default: %(default)s)')
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.results):
        parser.error(f'--labels has {len(args.labels)} names for '
                     f'{len(args.results)} result files')
    if args.cfg_options and not args.config:
        parser.error('--cfg-options needs --config')
    return args


def class_counts(args, results):
    """Training counts: the JSONs' own (must agree) or --config's."""
    from_json = [r['class_counts'] for r in results]
    if all(c is not None for c in from_json):
        for counts, name in zip(from_json[1:], args.results[1:]):
            if not np.array_equal(counts, from_json[0]):
                raise ValueError(
                    f'{name} has other {args.prefix}/class_counts than '
                    f'{args.results[0]}; plot runs of the same training set '
                    'together.')
        return from_json[0], f'{args.results[0]}'
    if args.config is None:
        missing = [n for n, c in zip(args.results, from_json) if c is None]
        raise ValueError(
            f'{missing} have no {args.prefix}/class_counts; pass --config '
            'CONFIG (the config the runs were tested with) to compute the '
            'training counts.')
    from lcreg.analysis import model_io
    cfg = model_io.load_config(args.config, args.cfg_options)
    counts, source = model_io.class_counts_from_config(cfg)
    if counts is None:
        raise ValueError(f'{source}; no training class counts.')
    return np.asarray(counts, dtype=np.int64), f'{args.config} ({source})'


def plot(results, labels, counts, out_file):
    order = pc.head_to_tail_order(counts)
    first = results[0]
    bands = pc.split_bands(first['num_many'], first['num_medium'],
                           first['num_few'])
    ranks = np.arange(len(order))
    fig, ax = plt.subplots(figsize=FIG_INCHES, dpi=DPI)
    ax_counts = ax.twinx()
    ax_counts.bar(ranks, counts[order], width=1.0, color='0.85', zorder=0)
    ax_counts.set_yscale('log')
    ax_counts.set_ylabel('training images per class (log)')
    ax.set_zorder(ax_counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    for name, start, stop in bands:
        ax.axvspan(start - 0.5, stop - 0.5, color=BAND_COLORS[name],
                   alpha=0.08, lw=0)
        ax.text((start + stop - 1) / 2, 1.01, f'{name} ({stop - start})',
                transform=ax.get_xaxis_transform(), ha='center',
                va='bottom', fontsize=9, color=BAND_COLORS[name])
    summary = []
    for result, label in zip(results, labels):
        accuracy = result['per_class'][order]
        means = pc.band_means(accuracy, bands)
        text = ', '.join(f'{k} {v:.1f}' for k, v in means.items())
        ax.plot(ranks, accuracy, marker='o', ms=3, lw=1.2,
                label=f'{label}: top-1 {result["top1"]:.2f} ({text})')
        summary.append((label, result['top1'], means))
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set_ylim(0, 105)
    ax.set_xlabel('classes, sorted by training images (head to tail)')
    ax.set_ylabel('per-class top-1 accuracy (%)')
    if len(order) <= 30:
        ax.set_xticks(ranks, [str(c) for c in order], fontsize=8)
    ax.legend(loc='lower left', fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=DPI)
    plt.close(fig)
    return bands, summary


def main(argv=None):
    args = parse_args(argv)
    results = [pc.load_test_metrics(p, args.prefix) for p in args.results]
    labels = args.labels or [osp.splitext(osp.basename(p))[0]
                             for p in args.results]
    counts, source = class_counts(args, results)
    pc.check_same_classes(results, args.results, counts)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    bands, summary = plot(results, labels, counts, args.out)
    print(f'training class counts from {source}')
    print('groups (head to tail): ' + ', '.join(
        f'{name} ranks {start}-{stop - 1}' for name, start, stop in bands))
    for label, top1, means in summary:
        print(f'{label}: top-1 {top1:.2f}, ' + ', '.join(
            f'{k} {v:.2f}' for k, v in means.items()))
    print(f'saved {args.out}')


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
