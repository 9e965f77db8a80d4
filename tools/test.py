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
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.engine.runner import setup_cpu_distributed  # noqa: E402
from lcreg.evaluation.split_table import (dump_metrics_json,  # noqa: E402
                                          format_split_table)
from lcreg.utils import merge_cfg_options  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test a checkpoint: overall, many, medium, few top-1 '
        'and ECE')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save the test logs '
                        '(default: work_dirs/<config name>)')
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
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    setup_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if is_main_process():
        out = args.out or osp.join(cfg.work_dir, 'test_metrics.json')
        print(format_split_table(metrics, title=osp.basename(args.config)))
        dump_metrics_json(metrics, out)
        print(f'metrics written to {out}')


# -- user errors: one line instead of a traceback ----------------------------
_OUR_CODE = tuple(
    osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), d) + os.sep
    for d in ('lcreg', 'tools'))


def user_error_message(err: BaseException):
    """The one-line message of a user error, or None for other errors.

    User errors: a missing file (anywhere), an unexpected keyword argument
    of a module built from the config, and the ValueError / KeyError / ...
    that the toolbox's own checks raise (they name the file, key and fix).
    An error re-raised from a DataLoader worker is judged by its original.
    """
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args and \
        type(err).__str__ is KeyError.__str__ else str(err)
    frames, tb = [], err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    if '\nOriginal Traceback' in text:  # re-raised from a worker process
        frames = re.findall(r'File "([^"]+)"', text)
        text = text.rstrip().splitlines()[-1].split(': ', 1)[-1]
    ours = bool(frames) and osp.abspath(frames[-1]).startswith(_OUR_CODE)
    if isinstance(err, FileNotFoundError) or (
            isinstance(err, TypeError)
            and 'unexpected keyword argument' in text) or (
            ours and isinstance(err, (ValueError, KeyError, TypeError,
                                      IndexError, RuntimeError,
                                      FloatingPointError))):
        return text or type(err).__name__
    return None


def cli(argv=None):
    """``main`` that prints ``error: <message>`` and exits 2 on a user
    error (the full traceback with the environment variable LCREG_DEBUG=1)."""
    try:
        main(argv)
    except Exception as err:
        message = user_error_message(err)
        if message is None or os.environ.get('LCREG_DEBUG') == '1':
            raise
        sys.stdout.flush()
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    cli()
