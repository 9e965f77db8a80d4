"""Reliability diagram (calibration plot) with the ECE of the metric.

Accuracy against mean confidence in ``--bins`` equal-width confidence bins
(bin b = ``(b/nb, (b+1)/nb]``, as ``LongTailMetric`` bins them), the gap to
the diagonal drawn as red bars, the share of samples per bin below. The ECE
in the title is ``LongTailMetric``'s own function, so with the default 15
bins it is the ``lt/ece`` that ``tools/test.py`` prints for the same split.

Predictions come from CONFIG + CHECKPOINT (the model's ``test_step`` over
``<split>_dataloader.dataset``; ``--save-predictions`` keeps them) or from
a saved ``--predictions FILE.npz`` (arrays ``scores`` (N, C) class
probabilities and ``labels`` (N,)).

Examples::

    python tools/analysis/reliability_diagram.py CONFIG CKPT --bins 15 \\
        --out work_dirs/reliability.png --save-predictions preds.npz
    python tools/analysis/reliability_diagram.py --predictions preds.npz
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
from mmengine.utils import ProgressBar  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.analysis import calibration  # noqa: E402
from lcreg.analysis import model_io  # noqa: E402
from lcreg.utils.cli import run_cli  # noqa: E402

DPI = 100
FIG_INCHES = (6, 7.5)  # -> 600 x 750 pixels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Reliability diagram of a classifier, with the ECE of '
        'LongTailMetric.')
    parser.add_argument('config', nargs='?', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file')
    parser.add_argument('--predictions', metavar='FILE.npz',
                        help='use saved predictions (scores, labels) '
                        'instead of CONFIG CHECKPOINT')
    parser.add_argument('--save-predictions', metavar='FILE.npz',
                        help='write the predictions computed from CONFIG '
                        'CHECKPOINT')
    parser.add_argument('--bins', type=int, default=15,
                        help='confidence bins (default: 15, as the metric)')
    parser.add_argument('--split', choices=model_io.SPLITS, default='test',
                        help='dataset split (default: test)')
    parser.add_argument('--max-images', type=int, default=None,
                        help='use at most N images, spread evenly over the '
                        'split (quick looks; the ECE then differs from the '
                        "full split's)")
    parser.add_argument('--batch-size', type=int, default=None,
                        help="default: the split's dataloader batch size")
    parser.add_argument('--num-workers', type=int, default=0,
                        help='dataloader workers (default 0)')
    parser.add_argument('--title', default=None, help='figure title prefix')
    parser.add_argument('--out', default='work_dirs/reliability_diagram.png',
                        help='PNG file (default: %(default)s)')
    parser.add_argument('--device', default=model_io.default_device(),
                        help='cuda or cpu (default: %(default)s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (unknown keys are '
                        'refused; prefix a key with + to add it)')
    args = parser.parse_args(argv)
    if args.predictions is not None:
        if args.config or args.checkpoint or args.save_predictions:
            parser.error('--predictions replaces CONFIG CHECKPOINT (and '
                         '--save-predictions); give one or the other')
    elif not (args.config and args.checkpoint):
        parser.error('give CONFIG CHECKPOINT, or --predictions FILE.npz')
    if args.bins < 1:
        parser.error(f'--bins must be >= 1, got {args.bins}')
    return args


def load_predictions(path):
    """``scores`` and ``labels`` of a ``--save-predictions`` file."""
    model_io.require_file(path, '--predictions')
    try:
        data = np.load(path)
    except (OSError, ValueError, EOFError):
        raise ValueError(f'--predictions {path} is not a .npz file; write it '
                         'with --save-predictions.') from None
    missing = {'scores', 'labels'} - set(getattr(data, 'files', ()))
    if missing:  # (a plain .npy file holds one unnamed array)
        raise KeyError(f'--predictions {path} lacks the arrays '
                       f'{sorted(missing)}; write it with --save-predictions.')
    with data:
        return data['scores'], data['labels']


def predict(args):
    """Class probabilities (N, C) and labels (N,) of the split."""
    cfg = model_io.load_config(args.config, args.cfg_options)
    model = model_io.load_model(cfg, args.checkpoint, args.device)
    dataset = model_io.build_split_dataset(cfg, args.split)
    indices = model_io.evenly_spaced(len(dataset), args.max_images)
    batch_size = args.batch_size or cfg.get(f'{args.split}_dataloader').get(
        'batch_size', 32)
    print(f'{args.split} split: {len(indices)} of {len(dataset)} images')
    scores, labels = [], []
    bar = ProgressBar(len(indices))
    for batch in model_io.batches(dataset, indices, batch_size,
                                  args.num_workers):
        batch_scores, batch_labels = model_io.predictions_of_batch(
            model, batch)
        scores.append(batch_scores)
        labels.append(batch_labels)
        bar.update(len(batch_labels))
    print()
    labels = np.concatenate(labels)
    if (labels < 0).any():
        raise ValueError(f'the {args.split} split has unlabelled images.')
    return np.concatenate(scores), labels


def plot(bins, top1, title, out_file):
    edges = bins['edges']
    width = np.diff(edges)
    filled = bins['count'] > 0
    fig, (ax, ax_count) = plt.subplots(
        2, 1, figsize=FIG_INCHES, dpi=DPI, sharex=True,
        gridspec_kw=dict(height_ratios=[3, 1]))
    ax.bar(edges[:-1][filled], bins['accuracy'][filled], width=width[filled],
           align='edge', color='tab:blue', edgecolor='k', lw=0.5,
           label='accuracy')
    gap_low = np.minimum(bins['accuracy'], bins['confidence'])[filled]
    ax.bar(edges[:-1][filled], np.abs(bins['gap'])[filled],
           bottom=gap_low, width=width[filled], align='edge',
           color='tab:red', alpha=0.35, edgecolor='tab:red', hatch='//',
           lw=0.5, label='gap to mean confidence')
    ax.plot([0, 1], [0, 1], 'k--', lw=1, label='perfect calibration')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel('accuracy')
    ax.legend(loc='upper left', fontsize=9)
    ax.set_title(f'{title}ECE = {100 * bins["ece"]:.2f}% '
                 f'({len(width)} bins), top-1 {top1:.2f}%', fontsize=10)
    total = max(int(bins['count'].sum()), 1)
    ax_count.bar(edges[:-1], bins['count'] / total, width=width,
                 align='edge', color='0.6', edgecolor='k', lw=0.5)
    ax_count.set_xlabel('confidence (max class probability)')
    ax_count.set_ylabel('share of samples')
    fig.tight_layout()
    fig.savefig(out_file, dpi=DPI)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.predictions is not None:
        scores, labels = load_predictions(args.predictions)
        title = args.title or osp.basename(args.predictions)
    else:
        scores, labels = predict(args)
        title = args.title or osp.splitext(osp.basename(args.config))[0]
        if args.save_predictions:
            os.makedirs(osp.dirname(osp.abspath(args.save_predictions)),
                        exist_ok=True)
            np.savez(args.save_predictions, scores=scores, labels=labels)
            print(f'saved {args.save_predictions}')
    confidences, correct = calibration.predictions_to_calibration(
        scores, labels)
    bins = calibration.reliability_bins(confidences, correct, args.bins)
    top1 = 100.0 * float(correct.mean())
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    plot(bins, top1, f'{title}: ', args.out)
    print(f'samples: {len(labels)}')
    print(f'top-1 (%): {top1:.4f}')
    print(f'ECE (%, {args.bins} bins): {100 * bins["ece"]:.4f}')
    print(f'saved {args.out}')


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
