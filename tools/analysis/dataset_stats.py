"""Class-count profile of the dataset of a config, with a frequency plot.

Builds ``<split>_dataloader.dataset`` of CONFIG (MMEngine Config, MMPretrain
DATASETS registry; the pipeline is dropped, statistics need only labels),
prints the number of classes and images, the head (max) and tail (min)
class counts, the imbalance factor max/min and the number of many-shot
(> 100 images), medium-shot and few-shot (< 20) classes, and saves the class
counts sorted from head to tail as a PNG bar plot with a logarithmic y axis.

Example::

    python tools/analysis/dataset_stats.py \\
        configs/lcreg/resnet50_imagenet-lt.py --split train --out-dir stats
"""
import argparse
import copy
import os
import os.path as osp
import sys

from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)  # run from a checkout without installing
FIG_SIZE_INCHES, FIG_DPI = (8, 4), 100  # -> 800 x 400 pixels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Print the class-count profile of a config\'s dataset '
        'and save a histogram of class frequencies (sorted, log y).')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--split', choices=('train', 'val', 'test'), default='train',
        help='which <split>_dataloader.dataset to analyse (default: train)')
    parser.add_argument(
        '--out-dir', default=None,
        help='folder of the PNG (default: work_dirs/dataset_stats)')
    parser.add_argument(
        '--many-thr', type=int, default=100,
        help='many-shot classes have more than this many images')
    parser.add_argument(
        '--few-thr', type=int, default=20,
        help='few-shot classes have fewer than this many images')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config keys, e.g. train_dataloader.dataset.'
        'data_root=data/imagenet')
    return parser.parse_args(argv)


def drop_pipelines(dataset_cfg):
    """Remove ``pipeline`` from a dataset config and any wrapped datasets."""
    if isinstance(dataset_cfg, dict):
        dataset_cfg.pop('pipeline', None)
        for key in ('dataset', 'datasets'):
            inner = dataset_cfg.get(key)
            for item in inner if isinstance(inner, list) else [inner]:
                drop_pipelines(item)
    return dataset_cfg


def class_counts_of(dataset):
    """Per-class image counts: ``metainfo['class_counts']`` (the project's
    convention), else a bincount of ``get_gt_labels()``."""
    import numpy as np
    counts = dataset.metainfo.get('class_counts')
    if counts is not None:
        return np.asarray(counts, dtype=np.int64)
    if not hasattr(dataset, 'get_gt_labels'):
        raise TypeError(
            f'{type(dataset).__name__} has neither '
            "metainfo['class_counts'] nor get_gt_labels(); use a dataset of "
            'this toolbox or of MMPretrain.')
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    classes = dataset.metainfo.get('classes')
    return np.bincount(labels, minlength=len(classes) if classes else 0)


def class_count_profile(counts, many_thr=100, few_thr=20) -> dict:
    """Head/tail numbers of per-class counts (many: > many_thr, few:
    < few_thr, medium: the rest)."""
    head, tail = int(counts.max()), int(counts.min())
    return dict(
        classes=len(counts),
        images=int(counts.sum()),
        head=head,
        tail=tail,
        imbalance=head / tail if tail > 0 else float('inf'),
        many=int((counts > many_thr).sum()),
        medium=int(((counts <= many_thr) & (counts >= few_thr)).sum()),
        few=int((counts < few_thr).sum()))


def plot_class_counts(counts, out_file, title, many_thr, few_thr):
    """Bar plot of counts sorted from head to tail, log y axis."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    ordered = np.sort(counts)[::-1]
    baseline = 0.5  # log axis: zero-count classes draw nothing
    fig, ax = plt.subplots(figsize=FIG_SIZE_INCHES, dpi=FIG_DPI)
    ax.stairs(ordered, np.arange(len(ordered) + 1), fill=True,
              baseline=baseline, color='tab:blue')
    ax.axhline(many_thr, color='tab:green', lw=1, ls='--',
               label=f'many-shot > {many_thr}')
    ax.axhline(few_thr, color='tab:red', lw=1, ls='--',
               label=f'few-shot < {few_thr}')
    ax.set_yscale('log')
    ax.set_ylim(baseline, max(ordered[0], many_thr) * 1.5)
    ax.set_xlim(0, len(ordered))
    ax.set_xlabel('class rank (sorted by image count)')
    ax.set_ylabel('images per class')
    ax.set_title(title)
    ax.legend(loc='upper right')
    fig.tight_layout()
    fig.savefig(out_file, dpi=FIG_DPI)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import lcreg  # noqa: F401  (registration)
    from lcreg.analysis import model_io
    from mmpretrain.registry import DATASETS

    cfg = model_io.load_config(args.config, args.cfg_options)
    key = f'{args.split}_dataloader'
    loader_cfg = cfg.get(key)
    if not isinstance(loader_cfg, dict) or 'dataset' not in loader_cfg:
        raise KeyError(f'{args.config} has no {key}.dataset; add it or '
                       'choose another --split.')
    dataset_cfg = drop_pipelines(copy.deepcopy(loader_cfg['dataset']))
    dataset = DATASETS.build(dataset_cfg)
    counts = class_counts_of(dataset)
    prof = class_count_profile(counts, args.many_thr, args.few_thr)

    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = args.out_dir or osp.join('work_dirs', 'dataset_stats')
    os.makedirs(out_dir, exist_ok=True)
    out_file = osp.join(out_dir, f'{name}_{args.split}_class_counts.png')
    plot_class_counts(
        counts, out_file,
        f'{name} ({args.split}): {prof["classes"]} classes, '
        f'{prof["images"]} images', args.many_thr, args.few_thr)

    print(f'dataset: {type(dataset).__name__} ({key}.dataset of '
          f'{args.config})')
    print(f'classes: {prof["classes"]}')
    print(f'images: {prof["images"]}')
    print(f'head (max) count: {prof["head"]}')
    print(f'tail (min) count: {prof["tail"]}')
    print(f'imbalance factor (max/min): {prof["imbalance"]:.2f}')
    print(f'many-shot classes (> {args.many_thr}): {prof["many"]}')
    print(f'medium-shot classes ({args.few_thr}..{args.many_thr}): '
          f'{prof["medium"]}')
    print(f'few-shot classes (< {args.few_thr}): {prof["few"]}')
    print(f'histogram: {out_file}')


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    from lcreg.utils.cli import run_cli
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
