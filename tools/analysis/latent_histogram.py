"""Latent-category histograms (paper Fig. 4) and latent statistics of a split.

Per image (``--images``): the weight of every latent category in the image,
``mean_n A[n, m]`` (A = the assignment of eq. 2), as a bar chart next to the
image; the ``--topk`` strongest latents are coloured (one colour per latent
index, the same in every picture) and printed.

Over a dataset split (``--dataset-split val|test``):

* ``latent_top_images_<split>.png``: for each latent category the
  ``--topk`` images where it weighs most;
* ``class_latent_matrix_<split>.png``: the mean weights of the images of
  each class (rows: classes from head to tail by training count, when the
  config's metric or training set gives the counts; columns: latents),
  which shows the latent categories that head and tail classes share;
* ``latent_weights_<split>.npz``: the numbers (weights, labels, matrix,
  and per image the assignment entropy / log M, printed as a mean: near 1
  the assignment is almost uniform and ``assign_temperature`` is too high).

Examples::

    python tools/analysis/latent_histogram.py CONFIG CKPT \\
        --images a.jpg b.jpg --out-dir work_dirs/latents
    python tools/analysis/latent_histogram.py CONFIG CKPT \\
        --dataset-split test --max-images 2000
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
from lcreg.analysis import latent_stats as ls  # noqa: E402
from lcreg.analysis import model_io  # noqa: E402
from lcreg.utils.cli import run_cli  # noqa: E402

DPI = 100
IMAGE_FIG_INCHES = (10, 4)  # -> 1000 x 400 pixels per image
MATRIX_FIG_INCHES = (10, 6)  # -> 1000 x 600 pixels
CELL_INCHES = 1.25  # top-images grid: 1.25 in per image, 1 in for labels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Latent-category histograms of images (paper Fig. 4) '
        'and per-latent / per-class statistics over a dataset split.')
    parser.add_argument('config', help='LCReg config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--images', nargs='+', metavar='IMG', default=[],
                        help='image files: one histogram PNG each (they go '
                        "through the config's test pipeline)")
    parser.add_argument('--dataset-split', choices=model_io.SPLITS,
                        help='also analyse <split>_dataloader.dataset')
    parser.add_argument('--max-images', type=int, default=None,
                        help='dataset mode: use at most N images, spread '
                        'evenly over the split (default: all)')
    parser.add_argument('--topk', type=int, default=5,
                        help='latents highlighted per image, and images '
                        'shown per latent (default: 5)')
    parser.add_argument('--latents', type=int, nargs='+', metavar='m',
                        help='dataset mode: latents shown in the top-images '
                        'grid (default: all)')
    parser.add_argument('--out-dir', default='work_dirs/latent_histogram',
                        help='output folder (default: %(default)s)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help="dataset mode batch size (default: the split's "
                        'dataloader batch size)')
    parser.add_argument('--num-workers', type=int, default=0,
                        help='dataloader workers in dataset mode (default 0)')
    parser.add_argument('--device', default=model_io.default_device(),
                        help='cuda or cpu (default: %(default)s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (unknown keys are '
                        'refused; prefix a key with + to add it)')
    args = parser.parse_args(argv)
    if not args.images and args.dataset_split is None:
        parser.error('give --images IMG [IMG ...] and/or --dataset-split')
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    if args.max_images is not None and args.max_images < 1:
        parser.error(f'--max-images must be >= 1, got {args.max_images}')
    return args


def latent_color(m: int):
    """The same colour for latent m in every picture."""
    return plt.get_cmap('tab20')(m % 20)


def plot_image_histogram(image, weights, topk, title, out_file):
    """Image (left) and its latent-category weights (right), top-k coloured.

    Args:
        image: H×W×3 uint8 RGB.
        weights: (M,) latent weights of the image.
    """
    num_latents = len(weights)
    top, _ = ls.top_latents(weights[None], topk)
    top = top[0]
    fig, (ax_img, ax_bar) = plt.subplots(
        1, 2, figsize=IMAGE_FIG_INCHES, dpi=DPI,
        gridspec_kw=dict(width_ratios=[1, 2.6]))
    ax_img.imshow(image)
    ax_img.set_axis_off()
    ax_img.set_title(title, fontsize=9)
    colors = ['0.75'] * num_latents
    for m in top:
        colors[m] = latent_color(m)
    ax_bar.bar(np.arange(num_latents), weights, width=0.85, color=colors)
    for m in top:
        ax_bar.annotate(str(m), (m, weights[m]), ha='center', va='bottom',
                        fontsize=8, color=latent_color(m))
    ax_bar.axhline(1.0 / num_latents, color='k', lw=0.8, ls=':',
                   label=f'uniform 1/M = {1.0 / num_latents:.3f}')
    ax_bar.set_xlim(-0.6, num_latents - 0.4)
    ax_bar.set_ylim(0, float(weights.max()) * 1.15)
    ax_bar.set_xlabel('latent category m')
    ax_bar.set_ylabel('weight  mean$_n$ A[n, m]')
    ax_bar.set_title(f'latent category histogram (top {len(top)}: '
                     f'{", ".join(str(m) for m in top)})', fontsize=10)
    ax_bar.legend(loc='upper right', fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=DPI)
    plt.close(fig)


def output_stems(paths):
    """A distinct file stem per image: the file name without extension,
    prefixed by its folder when names repeat (Places-LT reuses file names
    across class folders), then by its position if still not unique."""
    stems = [osp.splitext(osp.basename(p))[0] for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    stems = [f'{osp.basename(osp.dirname(osp.abspath(p)))}_{s}'
             for p, s in zip(paths, stems)]
    if len(set(stems)) == len(stems):
        return stems
    return [f'{k}_{s}' for k, s in enumerate(stems)]


def run_images(args, cfg, model, flips):
    """One histogram PNG per image of --images."""
    topk = min(args.topk, model_io.latent_neck(model).num_latents)
    for path, stem in zip(args.images, output_stems(args.images)):
        batch = model_io.load_image(path, cfg, flips)
        lat = model_io.latents_of_batch(model, batch)
        weights = ls.latent_weights(lat['assignment'])[0]
        top, values = ls.top_latents(weights[None], topk)
        out_file = osp.join(args.out_dir, f'{stem}_latent_histogram.png')
        image = model_io.display_image(batch['inputs'][0], flips)
        plot_image_histogram(image, weights, topk, osp.basename(path),
                             out_file)
        tops = ', '.join(f'{m} ({w:.4f})' for m, w in zip(top[0], values[0]))
        print(f'{path}: top latents {tops}')
        print(f'saved {out_file}')


def collect_split(args, cfg, model):
    """Latent weights (n, M) and labels (n,) of the chosen split images."""
    dataset = model_io.build_split_dataset(cfg, args.dataset_split)
    indices = model_io.evenly_spaced(len(dataset), args.max_images)
    batch_size = args.batch_size or cfg.get(
        f'{args.dataset_split}_dataloader').get('batch_size', 32)
    loader = model_io.batches(dataset, indices, batch_size, args.num_workers)
    print(f'{args.dataset_split} split: {len(indices)} of {len(dataset)} '
          'images')
    weights, labels, entropy = [], [], []
    bar = ProgressBar(len(indices))
    for batch in loader:
        lat = model_io.latents_of_batch(model, batch)
        weights.append(ls.latent_weights(lat['assignment']))
        entropy.append(ls.assignment_entropy(lat['assignment']))
        labels.append(lat['labels'])
        bar.update(len(lat['labels']))
    print()
    return dataset, indices, np.concatenate(weights), np.concatenate(
        labels), np.concatenate(entropy)


def plot_top_images(dataset, indices, top, latents, weights, flips,
                    out_file):
    """Grid: one row per latent, its top images by decreasing weight."""
    k = top.shape[1]
    fig, axes = plt.subplots(
        len(latents), k, squeeze=False, dpi=DPI,
        figsize=(1.0 + CELL_INCHES * k, CELL_INCHES * len(latents)))
    for row, m in enumerate(latents):
        for col in range(k):
            pos = top[m, col]
            ax = axes[row, col]
            image = dataset[int(indices[pos])]['inputs']
            ax.imshow(model_io.display_image(image, flips))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f'{weights[pos, m]:.3f}', fontsize=7, pad=2)
            for spine in ax.spines.values():
                spine.set_edgecolor(latent_color(m))
                spine.set_linewidth(2)
        axes[row, 0].set_ylabel(f'latent {m}', fontsize=8)
    fig.subplots_adjust(left=1.0 / fig.get_figwidth(), right=0.99,
                        bottom=0.01, top=1 - 0.2 / fig.get_figheight(),
                        wspace=0.05, hspace=0.3)
    fig.savefig(out_file, dpi=DPI)
    plt.close(fig)


def plot_class_matrix(matrix, order, counts, groups, title, out_file):
    """Class × latent mean weights, classes in ``order`` (head first)."""
    fig, ax = plt.subplots(figsize=MATRIX_FIG_INCHES, dpi=DPI)
    shown = matrix[order]
    image = ax.imshow(np.ma.masked_invalid(shown), aspect='auto',
                      cmap='viridis', interpolation='nearest')
    fig.colorbar(image, ax=ax, label='mean weight of the class images')
    ax.set_xlabel('latent category m')
    ylabel = 'class'
    if counts is not None:
        ylabel = 'class (head to tail: training images)'
        start = 0
        for name in ('many', 'medium', 'few'):
            size = int(groups[name].sum())
            if size and start:
                ax.axhline(start - 0.5, color='w', lw=1.2)
            if size:
                ax.text(0.01, (start + start + size - 1) / 2, name,
                        transform=ax.get_yaxis_transform(), ha='left',
                        va='center', fontsize=8, color='w',
                        bbox=dict(facecolor='k', alpha=0.45, lw=0))
            start += size
    ax.set_ylabel(ylabel)
    if len(order) <= 40:
        labels = [f'{c} ({counts[c]})' if counts is not None else str(c)
                  for c in order]
        ax.set_yticks(np.arange(len(order)), labels, fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=DPI)
    plt.close(fig)


def run_split(args, cfg, model, flips):
    """Top images per latent and the class × latent matrix of a split."""
    num_latents = model_io.latent_neck(model).num_latents
    latents = list(range(num_latents)) if args.latents is None \
        else args.latents
    bad = [m for m in latents if not 0 <= m < num_latents]
    if bad:
        raise ValueError(f'--latents {bad} are outside [0, {num_latents}) '
                         f'(the model has {num_latents} latent '
                         'categories).')
    dataset, indices, weights, labels, entropy = collect_split(
        args, cfg, model)
    split = args.dataset_split
    print(f'assignment entropy / log M: {entropy.mean():.4f} (1 = every '
          'position spread uniformly over the latents, 0 = one latent per '
          'position)')
    top = ls.top_images_per_latent(weights, min(args.topk, len(weights)))
    grid_file = osp.join(args.out_dir, f'latent_top_images_{split}.png')
    plot_top_images(dataset, indices, top, latents, weights, flips,
                    grid_file)
    print(f'saved {grid_file}')

    if (labels < 0).any():
        print(f'the {split} split has unlabelled images: no class x latent '
              'matrix')
        return
    num_classes = int(model.head.num_classes)
    matrix = ls.class_latent_matrix(weights, labels, num_classes)
    counts, source = model_io.class_counts_from_config(cfg)
    if counts is None:
        print(f'classes in label order: no training counts ({source})')
        order, groups = np.arange(num_classes), None
    else:
        if len(counts) != num_classes:
            raise ValueError(f'{len(counts)} class counts ({source}) for a '
                             f'{num_classes}-class head.')
        print(f'classes sorted by training count (from {source})')
        from lcreg.analysis.per_class import head_to_tail_order
        order = head_to_tail_order(counts)
        groups = model_io.long_tail_groups(cfg, counts)
        many = np.flatnonzero(groups['many'])
        few = np.flatnonzero(groups['few'])
        if len(many) and len(few):
            shared = ls.shared_top_latents(matrix, many, few, args.topk)
            print(f'latents in the top {args.topk} of both the many-shot '
                  f'and the few-shot classes: {shared.tolist()}')
    matrix_file = osp.join(args.out_dir, f'class_latent_matrix_{split}.png')
    plot_class_matrix(
        matrix, order, counts, groups,
        f'{split}: mean latent weights per class ({len(labels)} images)',
        matrix_file)
    print(f'saved {matrix_file}')
    data_file = osp.join(args.out_dir, f'latent_weights_{split}.npz')
    np.savez(data_file, weights=weights, labels=labels,
             assignment_entropy=entropy,
             dataset_indices=indices, class_latent_matrix=matrix,
             class_order=order, top_images=top)
    print(f'saved {data_file}')


def main(argv=None):
    args = parse_args(argv)
    for path in args.images:  # before the model is built
        model_io.require_file(path, '--images')
    cfg = model_io.load_config(args.config, args.cfg_options)
    model = model_io.load_model(cfg, args.checkpoint, args.device)
    model_io.latent_neck(model)  # fail early on a model without latents
    flips = model_io.preprocessor_flips_channels(model)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.images:
        run_images(args, cfg, model, flips)
    if args.dataset_split is not None:
        run_split(args, cfg, model, flips)


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
