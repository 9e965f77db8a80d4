"""``--cfg-options`` that refuse unknown keys instead of adding them."""
import difflib
from typing import Dict

from mmengine.config import Config


#: Top-level keys read after the config file is parsed: by MMEngine's
#: Runner (``Runner.from_cfg`` and the DDP / SyncBN / compile settings it
#: reads from the whole config) and by this toolbox's tools. Any other
#: top-level name is a variable of the config file (``imbalance_factor``,
#: ``stage1_epochs``, ``data_root``, ``train_pipeline`` ...): it was used
#: while the file was read, and changing it later changes nothing.
RUNTIME_KEYS = frozenset((
    'model', 'data_preprocessor', 'model_wrapper_cfg', 'work_dir',
    'experiment_name', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'load_from', 'resume', 'launcher',
    'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'sync_bn', 'find_unused_parameters', 'compile',
    'strategy', 'custom_imports'))


class UnknownConfigKeyError(KeyError):
    """A ``--cfg-options`` key names nothing in the config, or a variable
    of the config file that nothing reads any more."""

    def __str__(self):
        return self.args[0]


def _leaf_keys(node, prefix=''):
    """Dotted paths of every dict key below ``node`` (lists indexed)."""
    items = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, (list, tuple)) else ())
    for key, value in items:
        path = f'{prefix}.{key}' if prefix else str(key)
        yield path
        yield from _leaf_keys(value, path)


def _check_not_file_variable(cfg: Config, dotted: str,
                             config_file: str) -> None:
    top = dotted.split('.')[0]
    if top in RUNTIME_KEYS or top not in cfg._cfg_dict:
        return
    uses = [k for k in _leaf_keys(
        {k: v for k, v in cfg._cfg_dict.items() if k in RUNTIME_KEYS})
        if k.split('.')[-1] == top]
    hint = (f" Set the keys that take it instead: {', '.join(uses)}."
            if uses else ' Set the keys that take its value instead.')
    raise UnknownConfigKeyError(
        f"--cfg-options key '{dotted}': '{top}' is a variable of "
        f'{config_file} (or of a config it inherits), used only while the '
        f'file was read; changing it now would change nothing.{hint}')


def _check_key(cfg: Config, dotted: str, config_file: str) -> None:
    node, walked = cfg._cfg_dict, []
    for part in dotted.split('.'):
        if isinstance(node, (list, tuple)):
            if not (part.isdigit() and int(part) < len(node)):
                raise UnknownConfigKeyError(
                    f"--cfg-options key '{dotted}': '{'.'.join(walked)}' is a "
                    f'list of {len(node)} items in {config_file}, '
                    f"'{part}' is not an index of it")
            node = node[int(part)]
        elif isinstance(node, dict):
            is_leaf = len(walked) == len(dotted.split('.')) - 1
            names = [k for k in node if walked or k in RUNTIME_KEYS]
            close = difflib.get_close_matches(part, names, n=3)
            if (part not in node and is_leaf and 'type' in node
                    and not difflib.get_close_matches(
                        part, list(node), n=1, cutoff=0.8)):
                # a new argument of a module (not a near-typo of an existing
                # one): its constructor refuses a wrong one by name
                return
            if part not in node:
                hint = f' Did you mean {close}?' if close else ''
                where = '.'.join(walked) or 'the top level'
                raise UnknownConfigKeyError(
                    f"--cfg-options key '{dotted}': '{part}' does not exist "
                    f'under {where} of {config_file}.{hint} To add a new '
                    f"key on purpose, write it as '+{dotted}=...'.")
            node = node[part]
        else:
            return  # below a plain value: the new value replaces it whole
        walked.append(part)


def merge_cfg_options(cfg: Config, options: Dict) -> Config:
    """Merge ``--cfg-options`` into ``cfg``, checking every key exists.

    A typo would otherwise add a key nobody reads and train the wrong
    recipe silently. New arguments of a module (a dict with ``type``) are
    accepted unless they look like a typo of an existing key, since the
    module's constructor refuses unknown ones. Top-level variables of the
    config file (not in :data:`RUNTIME_KEYS`) are refused too, naming the
    keys that took their value. Keys starting with ``+`` are added without
    the checks.

    Raises:
        UnknownConfigKeyError: a key not found, named with close matches.
    """
    if not options:
        return cfg
    merged = {}
    for key, value in options.items():
        if key.startswith('+'):
            key = key[1:]
        else:
            _check_key(cfg, key, cfg.filename or '<config>')
            _check_not_file_variable(cfg, key, cfg.filename or '<config>')
        merged[key] = value
    cfg.merge_from_dict(merged)
    return cfg
