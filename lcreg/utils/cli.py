"""Command-line entry of the tools: one line for a user error."""
import os
import os.path as osp
import re
import sys
from typing import Callable, Optional

from mmengine.config import Config

#: Folders whose own checks raise user-facing errors.
_OUR_CODE = tuple(
    osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
             d) + os.sep for d in ('lcreg', 'tools'))


def user_error_message(err: BaseException) -> Optional[str]:
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


def run_cli(main: Callable, argv=None) -> None:
    """Run ``main(argv)``; on a user error print ``error: <message>`` and
    exit 2 (the full traceback with the environment variable
    ``LCREG_DEBUG=1``)."""
    try:
        main(argv)
    except Exception as err:
        message = user_error_message(err)
        if message is None or os.environ.get('LCREG_DEBUG') == '1':
            raise
        sys.stdout.flush()
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config path below configs/, without .py>``.

    Recipes of different methods share file names (configs/lcreg/X.py and
    configs/mislas/X.py), so the folder is kept:
    ``configs/lcreg/resnet32_cifar10-lt-if100.py`` →
    ``work_dirs/lcreg/resnet32_cifar10-lt-if100``. A config outside any
    ``configs`` folder gets ``work_dirs/<file name>``.
    """
    parts = osp.normpath(osp.abspath(config_path)).split(os.sep)
    name = osp.splitext(parts[-1])[0]
    if 'configs' in parts[:-1]:
        below = len(parts) - 1 - parts[::-1].index('configs')
        return osp.join('work_dirs', *parts[below + 1:-1], name)
    return osp.join('work_dirs', name)


def drop_disabled_hooks(cfg: Config) -> None:
    """``default_hooks.<name>=None`` switches any default hook off.

    MMEngine accepts None only for its own built-in hook names; this removes
    the None entries so the toolbox's hooks can be switched off the same
    way (e.g. ``--cfg-options default_hooks.epoch_seed=None``).
    """
    hooks = cfg.get('default_hooks')
    if hooks:
        for name in [k for k, v in hooks.items() if v is None]:
            hooks.pop(name)
