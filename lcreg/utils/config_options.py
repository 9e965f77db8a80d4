"""``--cfg-options`` that refuse unknown keys instead of adding them."""
import difflib
from typing import Dict

from mmengine.config import Config


class UnknownConfigKeyError(KeyError):
    """A ``--cfg-options`` key names nothing in the config."""

    def __str__(self):
        return self.args[0]


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
            close = difflib.get_close_matches(part, list(node), n=3)
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
    module's constructor refuses unknown ones. Keys
    starting with ``+`` are added without the check.

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
        merged[key] = value
    cfg.merge_from_dict(merged)
    return cfg
