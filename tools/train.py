"""Train a model from a config, the MMPretrain way.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--channels-last] [--auto-scale-lr]
                          [--cfg-options k=v ...]
                          [--launcher none|pytorch|slurm]

``train_dataloader.batch_size`` is per process; the lrs of a config are
for the total batch ``auto_scale_lr.base_batch_size``. ``--auto-scale-lr``
(as in MMPretrain) rescales them linearly to the actual total batch
(processes × per-process batch), stage 1 and stage 2 alike. Every run logs
the total batch and the lrs at start.

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
from mmengine.runner import Runner  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.engine.optimizers import mixed_precision_optim_wrapper  # noqa: E402
from lcreg.engine.runner import (destroy_process_group,  # noqa: E402
                                 setup_cpu_distributed)
from lcreg.utils import merge_cfg_options  # noqa: E402
from lcreg.utils.cli import (default_work_dir, drop_disabled_hooks,  # noqa: E402
                             run_cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and models '
                        '(default: work_dirs/<config path below configs/>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT; without CKPT, from the latest checkpoint '
        'of the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 with loss scaling on a GPU, '
                        'bfloat16 on a CPU with AVX512-BF16 / AMX')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last (NHWC) memory format: adds '
                        'ChannelsLastHook to custom_hooks')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='rescale the lrs linearly from '
                        'auto_scale_lr.base_batch_size to the actual total '
                        'batch (processes x train_dataloader.batch_size)')
    parser.add_argument('--no-validate', action='store_true',
                        help='no evaluation during training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=5 '
        '(unknown keys are refused; prefix a key with + to add it)')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_auto_scale_lr(cfg: Config) -> None:
    """``--auto-scale-lr``: ``auto_scale_lr.enable=True``; the config must
    say which total batch its lrs are for."""
    auto = cfg.get('auto_scale_lr') or {}
    if not auto.get('base_batch_size'):
        raise ValueError(
            f'--auto-scale-lr needs auto_scale_lr.base_batch_size in '
            f'{cfg.filename} (the total batch its lrs are for): add '
            'auto_scale_lr = dict(base_batch_size=<that batch>) to it.')
    cfg.auto_scale_lr = dict(auto, enable=True)


def build_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    drop_disabled_hooks(cfg)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    if args.amp:
        from mmengine.device import get_device
        cfg.optim_wrapper = mixed_precision_optim_wrapper(
            cfg.optim_wrapper, get_device())
    if args.channels_last:
        hooks = list(cfg.get('custom_hooks') or [])
        if any(h.get('type') == 'ChannelsLastHook' for h in hooks):
            print('ChannelsLastHook is already in the config')
        else:
            cfg.custom_hooks = hooks + [dict(type='ChannelsLastHook')]
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    setup_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    destroy_process_group()


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
