"""``--cfg-options`` strings that benchmarks add to an unchanged recipe.

Only settings that do not change what is trained are produced here: where the
data lies, loader workers, the seed, and extra validations (the literature's
best-test-epoch protocol). The schedule, model and losses stay the recipe's.
"""
from typing import List, Optional

from mmengine.config import Config

#: Every dataset of a recipe that reads the data root (the loaders' datasets
#: and the metrics' copies of the training set).
DATASET_KEYS = ('train_dataloader.dataset', 'val_dataloader.dataset',
                'test_dataloader.dataset', 'val_evaluator.train_dataset',
                'test_evaluator.train_dataset')
LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def has_key(cfg, dotted: str) -> bool:
    """Whether ``cfg`` (Config or dict) has the dotted key (list indices as
    numbers, e.g. ``param_scheduler.1.milestones``)."""
    node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for part in dotted.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() \
                and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def option(cfg, key: str, value) -> str:
    """``key=value`` for ``--cfg-options``, with the ``+`` that adds a key
    the config lacks (tools/train.py refuses unknown keys otherwise)."""
    if isinstance(value, (list, tuple)):
        text = '[' + ','.join(str(v) for v in value) + ']'
    else:
        text = str(value)
    return f"{'' if has_key(cfg, key) else '+'}{key}={text}"


def data_options(cfg, data_root: Optional[str],
                 verify_md5: Optional[bool] = None) -> List[str]:
    """``data_root`` (when not None) of every dataset of ``DATASET_KEYS`` the
    config has, and ``verify_md5`` (when not None) of those that have that
    key (the CIFAR datasets; a re-packed copy needs ``False``)."""
    opts = []
    for key in DATASET_KEYS:
        if has_key(cfg, key):
            if data_root is not None:
                opts.append(option(cfg, f'{key}.data_root', data_root))
            if verify_md5 is not None and has_key(cfg, f'{key}.verify_md5'):
                opts.append(option(cfg, f'{key}.verify_md5', verify_md5))
    return opts


def loader_options(cfg, workers: int, device: str,
                   stacked_batches: bool = False) -> List[str]:
    """Loader workers (persistent when > 0), pinned memory on a GPU and,
    with ``stacked_batches``, MMEngine's ``default_collate`` (one stacked
    image tensor per batch, normalised by the data preprocessor in one go)
    for every loader; cuDNN benchmark mode on a GPU."""
    opts = []
    for key in LOADER_KEYS:
        if has_key(cfg, key):
            opts.append(option(cfg, f'{key}.num_workers', workers))
            opts.append(option(cfg, f'{key}.persistent_workers', workers > 0))
            opts.append(option(cfg, f'{key}.pin_memory', device == 'cuda'))
            if stacked_batches:
                opts.append(option(cfg, f'{key}.collate_fn.type',
                                   'default_collate'))
    if device == 'cuda':
        opts.append(option(cfg, 'env_cfg.cudnn_benchmark', True))
    return opts


def stage1_epochs(cfg) -> Optional[int]:
    """``train_cfg.stage1_epochs`` of a two-stage recipe, else None."""
    value = cfg.train_cfg.get('stage1_epochs')
    return None if value is None else int(value)


def final_stage_begin(cfg) -> int:
    """First epoch (0-based) of the recipe's last stage.

    Two-stage recipes (``train_cfg.stage1_epochs``): the classifier stage,
    whose best epoch is what MiSLAS reports. One-stage recipes: the last
    ``MultiStepLR`` milestone (after it the lr no longer changes, where
    LDAM-DRW's best epoch lies), else the last tenth of the epochs.
    """
    train = cfg.train_cfg
    max_epochs = int(train.max_epochs)
    if stage1_epochs(cfg) is not None:
        return stage1_epochs(cfg)
    milestones = [m for s in (cfg.get('param_scheduler') or [])
                  for m in s.get('milestones', ())]
    if milestones:
        return int(max(milestones))
    return max_epochs - max(1, max_epochs // 10)


def best_epoch_options(cfg, begin: Optional[int] = None) -> List[str]:
    """The literature's protocol (optimistic): validate on the test set after
    every epoch from ``begin`` (default :func:`final_stage_begin`; 0: from
    the first epoch, as MiSLAS' stage 1 does) and keep the best ``lt/top1``
    checkpoint (``save_best``). The validation set of
    the CIFAR, ImageNet-LT and Places-LT recipes is their test set.

    Validations do not change training: the EpochSeedHook re-seeds every
    epoch, so the trained weights are those of the plain run.
    """
    begin = final_stage_begin(cfg) if begin is None else int(begin)
    opts = []
    if int(cfg.train_cfg.get('val_interval', 1)) != 1:
        if begin <= 0:
            # from the first epoch on (MiSLAS' train_stage1.py)
            opts.append(option(cfg, 'train_cfg.val_interval', 1))
        else:
            # MMEngine validates every epoch once (finished epochs + 1)
            # reaches the milestone: begin + 2 makes the first extra
            # validation the one after epoch begin + 1 (1-based), the first
            # epoch of the stage.
            opts.append(option(cfg, 'train_cfg.dynamic_intervals',
                               f'[({begin + 2},1)]'))
    return opts + [
        option(cfg, 'default_hooks.checkpoint.save_best', 'lt/top1'),
        option(cfg, 'default_hooks.checkpoint.rule', 'greater')]
