"""Load time and memory of ``LTListDataset`` on an iNaturalist-2018-sized list.

Writes a 437,513-line list in the iNaturalist 2018 line format
(``train_val2018/<supercategory>/<label>/<32 hex>.jpg <label>``, 8,142
classes, 1,000 to 2 images per class, shuffled) into a temporary folder (or
``--list`` to use an existing one) and reports

* the load time (first load and best of ``--repeat``),
* the memory the loaded dataset keeps (tracemalloc, which also traces numpy
  buffers), the peak while loading, and the growth of the resident set size
  (``VmRSS`` of /proc/self/status) over the first load,
* the pickled size (what each spawned dataloader worker receives),
* for contrast, the memory of the naive form: one Python dict per sample.

Usage::

    python tools/benchmarks/list_loading.py [--list FILE] [--repeat 3]
"""
import argparse
import gc
import os
import os.path as osp
import pickle
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))  # run from a checkout without installing

INAT_TRAIN_IMAGES = 437513
INAT_CLASSES = 8142
SUPERCATEGORIES = ('Actinopterygii', 'Amphibia', 'Animalia', 'Arachnida',
                   'Aves', 'Bacteria', 'Chromista', 'Fungi', 'Insecta',
                   'Mammalia', 'Mollusca', 'Plantae', 'Protozoa', 'Reptilia')


def long_tailed_counts(total: int = INAT_TRAIN_IMAGES,
                       num_classes: int = INAT_CLASSES,
                       max_count: int = 1000,
                       min_count: int = 2) -> np.ndarray:
    """Decreasing per-class counts, first ``max_count``, last ``min_count``,
    summing exactly to ``total``: ``min + (max - min) * (1 - r) ** a`` with
    r = rank / (C - 1) and ``a`` found by bisection, rounding residue spread
    over the middle classes."""
    rank = np.arange(num_classes) / (num_classes - 1)

    def profile(a):
        return np.rint(min_count + (max_count - min_count) *
                       (1 - rank)**a).astype(np.int64)

    low, high = 0.0, 1000.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if profile(mid).sum() > total else (low, mid)
    counts = profile(high)
    residue = total - int(counts.sum())
    inner = np.arange(1, num_classes - 1)
    room = (counts[inner] < max_count) if residue > 0 else \
        (counts[inner] > min_count)
    pick = inner[room][:abs(residue)]
    if len(pick) < abs(residue):
        raise ValueError('total is out of reach for these bounds')
    counts[pick] += np.sign(residue)
    return counts


def write_inat_style_list(path: str, counts: np.ndarray, seed: int = 0):
    """Write ``sum(counts)`` shuffled lines in the iNaturalist 2018 format."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    rng.shuffle(labels)
    names = rng.bytes(16 * len(labels)).hex()
    num_super = len(SUPERCATEGORIES)
    with open(path, 'w') as f:
        f.write(''.join(
            f'train_val2018/{SUPERCATEGORIES[lab * num_super // len(counts)]}'
            f'/{lab}/{names[32 * i:32 * i + 32]}.jpg {lab}\n'
            for i, lab in enumerate(labels.tolist())))
    return labels


def rss_mb() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('VmRSS not found in /proc/self/status')


def naive_dicts(path: str) -> list:
    """The per-sample-dict form, for comparison."""
    with open(path) as f:
        return [dict(img_path=p, gt_label=int(lab))
                for p, lab in (line.rsplit(' ', 1) for line in f)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--list', help='an existing list file to load '
                        '(default: generate the iNaturalist-sized list)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='loads for the best-of time')
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f'--repeat must be >= 1, got {args.repeat}')

    import lcreg  # noqa: F401  (registration)
    from lcreg.analysis import model_io
    from lcreg.datasets.lt_list import LTListDataset
    if args.list is not None:
        model_io.require_file(args.list, '--list')

    with tempfile.TemporaryDirectory() as tmp:
        path = args.list
        if path is None:
            path = osp.join(tmp, 'iNaturalist18_train_synthetic.txt')
            write_inat_style_list(path, long_tailed_counts())
        size_mb = os.path.getsize(path) / 2**20

        gc.collect()
        rss0 = rss_mb()
        start = time.perf_counter()
        dataset = LTListDataset(ann_file=path)
        first = time.perf_counter() - start
        rss_growth = rss_mb() - rss0
        times = [first]
        for _ in range(args.repeat - 1):
            start = time.perf_counter()
            LTListDataset(ann_file=path)
            times.append(time.perf_counter() - start)
        del dataset
        gc.collect()

        tracemalloc.start()
        dataset = LTListDataset(ann_file=path)
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        pickled = len(pickle.dumps(dataset)) / 2**20
        counts = np.asarray(dataset.metainfo['class_counts'])

        start = time.perf_counter()
        naive_dicts(path)
        naive_time = time.perf_counter() - start
        tracemalloc.start()
        dicts = naive_dicts(path)
        naive_kept, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del dicts

    mb = 2**20
    print(f'list: {path if args.list else "generated"} ({size_mb:.1f} MB), '
          f'{len(dataset)} samples, {len(counts)} classes, '
          f'max/min per class {counts.max()}/{counts.min()}')
    print(f'load time: first {first:.3f} s, best of {len(times)} '
          f'{min(times):.3f} s')
    print(f'memory kept by the dataset (tracemalloc): {kept / mb:.1f} MB; '
          f'peak while loading: {peak / mb:.1f} MB; RSS growth over the '
          f'first load: {rss_growth:.1f} MB')
    print(f'pickled dataset: {pickled:.1f} MB')
    print(f'naive list of dicts: {naive_kept / mb:.1f} MB kept, '
          f'{naive_time:.3f} s to read')


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    from lcreg.utils.cli import run_cli
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
