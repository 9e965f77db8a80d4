"""Similarity maps of latent categories on an image (LCReg eq. 1).

``S[n, m] = sigmoid(X[n]·Z[m])`` over the N = H·W positions of the last
feature map, reshaped to H×W, upsampled (bilinear) to the image that the
model sees (after the config's test pipeline) and overlaid on it. One panel
per latent category of ``--latent`` (default: the ``--top`` latents of
highest weight ``mean_n A[n, m]`` in this image).

The colour scale is the true S in [0, 1] (maps comparable across latents
and images); ``--normalize`` stretches each map to its own min..max.

Example::

    python tools/analysis/similarity_maps.py CONFIG CKPT --image cat.jpg \\
        --latent 3 17 --out work_dirs/cat_similarity.png
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
from mmengine.config import DictAction  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.analysis import latent_stats as ls  # noqa: E402
from lcreg.analysis import model_io  # noqa: E402
from lcreg.utils.cli import run_cli  # noqa: E402

DPI = 100
PANEL_INCHES = (3.0, 3.4)  # -> 300 x 340 pixels per panel


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Overlay the similarity maps S[:, m] (eq. 1) of latent '
        'categories on an image.')
    parser.add_argument('config', help='LCReg config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--image', required=True, help='image file')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--latent', type=int, nargs='+', metavar='m',
                       help='latent categories to show')
    which.add_argument('--top', type=int, default=3,
                       help='without --latent: show the K latents of '
                       'highest weight in the image (default: 3)')
    parser.add_argument('--out', default=None,
                        help='PNG file (default: work_dirs/similarity_maps/'
                        '<image name>_similarity.png)')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='opacity of the map (default: 0.5)')
    parser.add_argument('--normalize', action='store_true',
                        help='stretch every map to its own min..max')
    parser.add_argument('--device', default=model_io.default_device(),
                        help='cuda or cpu (default: %(default)s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (unknown keys are '
                        'refused; prefix a key with + to add it)')
    args = parser.parse_args(argv)
    if args.latent is None and args.top < 1:
        parser.error(f'--top must be >= 1, got {args.top}')
    if not 0 <= args.alpha <= 1:
        parser.error(f'--alpha must be in [0, 1], got {args.alpha}')
    return args


def plot_maps(image, maps, latents, weights, alpha, normalize, title,
              out_file):
    """Image, then one overlay per latent.

    Args:
        image: H×W×3 uint8 RGB.
        maps: list of H×W similarity maps (upsampled), one per latent.
        weights: (M,) latent weights of the image (shown in the titles).
    """
    panels = 1 + len(maps)
    fig, axes = plt.subplots(
        1, panels, dpi=DPI, squeeze=False,
        figsize=(PANEL_INCHES[0] * panels, PANEL_INCHES[1]))
    axes = axes[0]
    axes[0].imshow(image)
    axes[0].set_title(title, fontsize=9)
    for ax, smap, m in zip(axes[1:], maps, latents):
        ax.imshow(image)
        low, high = (float(smap.min()), float(smap.max())) if normalize \
            else (0.0, 1.0)
        shown = ax.imshow(smap, cmap='jet', alpha=alpha, vmin=low,
                          vmax=max(high, low + 1e-12))
        ax.set_title(f'latent {m}: weight {weights[m]:.3f}\n'
                     f'S in [{smap.min():.3f}, {smap.max():.3f}]',
                     fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out_file, dpi=DPI)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    model_io.require_file(args.image, '--image')  # before the model is built
    cfg = model_io.load_config(args.config, args.cfg_options)
    model = model_io.load_model(cfg, args.checkpoint, args.device)
    neck = model_io.latent_neck(model)
    flips = model_io.preprocessor_flips_channels(model)

    batch = model_io.load_image(args.image, cfg, flips)
    lat = model_io.latents_of_batch(model, batch)
    weights = ls.latent_weights(lat['assignment'])[0]
    if args.latent is None:
        top, _ = ls.top_latents(weights[None],
                                min(args.top, neck.num_latents))
        latents = top[0].tolist()
    else:
        latents = args.latent
        bad = [m for m in latents if not 0 <= m < neck.num_latents]
        if bad:
            raise ValueError(f'--latent {bad} outside [0, '
                             f'{neck.num_latents}) (the model has '
                             f'{neck.num_latents} latent categories).')
    image = model_io.display_image(batch['inputs'][0], flips)
    height, width = lat['hw']
    maps = []
    for m in latents:
        small = ls.similarity_map(lat['similarity'][0], m, height, width)
        maps.append(ls.upsample(small, image.shape[0], image.shape[1]))
        print(f'latent {m}: weight {weights[m]:.4f}, similarity '
              f'{small.min():.4f}..{small.max():.4f} on the {height}x{width}'
              ' feature map')

    out_file = args.out or osp.join(
        'work_dirs', 'similarity_maps',
        f'{osp.splitext(osp.basename(args.image))[0]}_similarity.png')
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    plot_maps(image, maps, latents, weights, args.alpha, args.normalize,
              osp.basename(args.image), out_file)
    print(f'saved {out_file}')


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
