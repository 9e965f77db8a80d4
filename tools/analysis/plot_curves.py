"""Training curves from MMEngine's JSON scalar logs, several runs together.

Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON object per
line, written by ``LocalVisBackend``) of each run and draws one panel per
``--keys`` entry, one line per run. Keys of training lines (``loss``,
``loss_recon``, ``loss_latent_aug``, ``lr``) are plotted against the
iteration, keys of validation lines (``lt/top1``, ``lt/many``, ...) against
the epoch. A run that lacks a key (e.g. ``loss_recon`` of a MiSLAS run) is
left out of that panel, which is printed.

Example::

    python tools/analysis/plot_curves.py \\
        work_dirs/mislas/*/vis_data/scalars.json \\
        work_dirs/lcreg/*/vis_data/scalars.json \\
        --keys loss loss_recon lt/top1 --out curves.png
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

from lcreg.analysis import log_curves  # noqa: E402
from lcreg.utils.cli import run_cli  # noqa: E402

DPI = 100
PANEL_INCHES = (8, 3)  # -> 800 x 300 pixels per key


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot training curves from MMEngine scalars.json logs.')
    parser.add_argument('logs', nargs='+', metavar='LOG.json',
                        help='scalars.json files (one JSON object a line)')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='scalars to plot, one panel each (default: '
                        'loss)')
    parser.add_argument('--labels', nargs='+',
                        help='one legend label per log (default: the work '
                        'dir names)')
    parser.add_argument('--smooth', type=int, default=1,
                        help='moving-average window in points (default 1: '
                        'raw values)')
    parser.add_argument('--out', default='work_dirs/curves.png',
                        help='PNG file (default: %(default)s)')
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.logs):
        parser.error(f'--labels has {len(args.labels)} names for '
                     f'{len(args.logs)} logs')
    if args.smooth < 1:
        parser.error(f'--smooth must be >= 1, got {args.smooth}')
    return args


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` points (same length)."""
    if window == 1 or len(values) == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (sums[index] - sums[start]) / (index - start)


def main(argv=None):
    args = parse_args(argv)
    runs = [log_curves.read_scalar_log(path) for path in args.logs]
    labels = args.labels or [log_curves.run_label(p) for p in args.logs]
    fig, axes = plt.subplots(
        len(args.keys), 1, squeeze=False, dpi=DPI,
        figsize=(PANEL_INCHES[0], PANEL_INCHES[1] * len(args.keys)))
    for ax, key in zip(axes[:, 0], args.keys):
        drawn, x_names = 0, set()
        for records, label, path in zip(runs, labels, args.logs):
            try:
                xs, ys, x_name = log_curves.extract_curve(records, key)
            except KeyError as err:
                print(f'{label} ({path}): {err.args[0]}; not in the {key!r} '
                      'panel')
                continue
            ax.plot(xs, moving_average(ys, args.smooth), lw=1.2,
                    marker='o' if len(xs) < 30 else None, ms=3,
                    label=label)
            print(f'{label}: {key} has {len(xs)} points over {x_name}s '
                  f'{xs[0]:g}..{xs[-1]:g}, last {ys[-1]:.4f}')
            drawn += 1
            x_names.add(x_name)
        if not drawn:
            raise KeyError(f'no log has the key {key!r}.')
        ax.set_ylabel(key)
        ax.set_xlabel(' / '.join(sorted(x_names)))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=DPI)
    plt.close(fig)
    print(f'saved {args.out}')


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
