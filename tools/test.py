"""Evaluate a checkpoint and print the long-tailed per-split table.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.json]
                         [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

A user error (missing file, malformed data, bad config key or value,
non-finite loss) prints one line ``error: <message>`` and exits with
status 2; set LCREG_DEBUG=1 for the full traceback.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.engine.runner import (destroy_process_group,  # noqa: E402
                                 setup_cpu_distributed)
from lcreg.engine.runner.checkpoint_fit import \
    CheckpointFitHook  # noqa: E402
from lcreg.evaluation.split_table import (dump_metrics_json,  # noqa: E402
                                          format_split_table)
from lcreg.utils import merge_cfg_options  # noqa: E402
from lcreg.utils.cli import (default_work_dir, drop_disabled_hooks,  # noqa: E402
                             run_cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test a checkpoint: overall, many, medium, few top-1 '
        'and ECE')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save the test logs '
                        '(default: work_dirs/<config path below configs/>)')
    parser.add_argument('--out', help='write the metrics to this JSON file '
                        '(default: <work dir>/test_metrics.json)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys (unknown keys are refused; prefix a key '
        'with + to add it)')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.out is not None and not args.out.endswith('.json'):
        parser.error(f'--out must name a .json file, got {args.out}')
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    drop_disabled_hooks(cfg)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    # a plain load of CHECKPOINT: the config a --resume run saved in its work
    # dir holds resume=True, which would take MMEngine's resume path (train
    # loop, optimizer, 'meta' of a training checkpoint)
    cfg.load_from, cfg.resume = args.checkpoint, False
    setup_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(CheckpointFitHook(args.checkpoint, args.config))
    metrics = runner.test()
    if is_main_process():
        out = args.out or osp.join(cfg.work_dir, 'test_metrics.json')
        print(format_split_table(metrics, title=osp.basename(args.config)))
        dump_metrics_json(metrics, out)
        print(f'metrics written to {out}')
    destroy_process_group()


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
