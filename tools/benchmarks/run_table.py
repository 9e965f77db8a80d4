"""Train and test configs × seeds, resumably, and write the results table.

    python tools/benchmarks/run_table.py CONFIG [CONFIG ...] --seeds 0 1 2 \\
        --work-dir DIR [--data-root D] [--no-verify-md5] [--amp]
        [--channels-last] [--workers N] [--device cpu|cuda]
        [--best-test-epoch [final-stage|all]] [--parallel N] [--retest]
        [--dry-run]
        [--cfg-options k=v ...]

Each run trains with ``tools/train.py`` and tests its final-epoch checkpoint
with ``tools/test.py`` (subprocesses). Started again with the same
arguments it skips finished runs and resumes the others from their last
checkpoint (at most one epoch lost). Writes ``DIR/table.md`` and
``DIR/table.json``: mean ± std over seeds of overall / many / medium / few
top-1 under both split rules and ECE, the wall time and the hardware of each
run. ``--best-test-epoch`` adds the literature's protocol (test-set validation
every epoch of the final stage, best kept; ``--best-test-epoch all``: every
epoch of both stages, as MiSLAS' scripts do), labelled as such; the
final epoch stays the headline. Only data, loader, seed and validation
settings are added to the recipes; ``--cfg-options`` adds yours (recorded).

Example (CPU, bf16, the full CIFAR-10-LT IF100 recipes)::

    python tools/benchmarks/run_table.py configs/mislas/resnet32_cifar10-lt-if100.py \\
        configs/lcreg/resnet32_cifar10-lt-if100.py --seeds 0 \\
        --work-dir /work/runs/cifar10-if100 --data-root data/cifar10 \\
        --no-verify-md5 --amp --channels-last --workers 0 --best-test-epoch
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.benchmarks.table_runner import TableRunner  # noqa: E402
from lcreg.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and test configs x seeds (resumable) and write '
        'DIR/table.md and DIR/table.json.')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0],
                        help='seeds (randomness.seed); default: 0')
    parser.add_argument('--work-dir', required=True,
                        help='folder of the runs and the table')
    parser.add_argument('--data-root',
                        help="data folder of every dataset (default: the "
                        "configs' own)")
    parser.add_argument('--no-verify-md5', dest='verify_md5',
                        action='store_false', default=None,
                        help='skip the md5 check of the CIFAR files (a re-'
                        'packed copy such as make_cifar.py builds)')
    parser.add_argument('--amp', action='store_true',
                        help='tools/train.py --amp (bf16 on a CPU, fp16 on '
                        'a GPU)')
    parser.add_argument('--channels-last', action='store_true',
                        help='tools/train.py --channels-last')
    parser.add_argument('--workers', type=int,
                        help="loader workers (default: the configs'; 0 is "
                        'fastest on a 2-core CPU)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu',
                        help='default: %(default)s')
    parser.add_argument('--best-test-epoch', nargs='?', const='final-stage',
                        choices=('final-stage', 'all'), default=None,
                        help="also the literature's protocol (optimistic): "
                        'validate on the test set every epoch of the final '
                        "stage (no value or 'final-stage') or of the whole "
                        "run ('all', as MiSLAS does in both stages) and "
                        'report the best')
    parser.add_argument('--parallel', type=int, default=1,
                        help='runs at the same time (default: 1)')
    parser.add_argument('--retest', action='store_true',
                        help='test finished runs again')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands; run and write nothing')
    parser.add_argument('--title', default='',
                        help='heading of table.md')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value options of every run')
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        parser.error(f'--workers must be >= 0, got {args.workers}')
    return args


def main(argv=None):
    args = parse_args(argv)
    runner = TableRunner(
        args.configs, args.seeds, args.work_dir, data_root=args.data_root,
        verify_md5=args.verify_md5, amp=args.amp,
        channels_last=args.channels_last, workers=args.workers,
        device=args.device, best_test_epoch=args.best_test_epoch,
        cfg_options=args.cfg_options, parallel=args.parallel,
        retest=args.retest, dry_run=args.dry_run,
        log=lambda text: print(text, flush=True))
    return runner.run(args.title)


if __name__ == '__main__':
    run_cli(main)
