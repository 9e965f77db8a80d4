"""Load checkpoints with ``torch.load(weights_only=True)`` and an allow-list.

Since torch 2.6 ``torch.load`` refuses to unpickle anything but tensors and
plain containers unless the global is allow-listed. MMEngine checkpoints
also hold the message hub (``HistoryBuffer`` objects with numpy arrays) and
numpy scalars, so MMEngine's resume fails there. Instead of falling back to
unrestricted unpickling (which runs arbitrary code from the file), this
module allow-lists exactly the globals our runs write, and refuses any
other checkpoint with a message that names the file and the globals.

``install()`` replaces MMEngine's loader of local files; it is called when
``lcreg`` is imported.
"""
import os.path as osp
import pickle
from typing import List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


def _numpy_globals() -> List:
    """numpy objects found in MMEngine checkpoints (arrays, scalars)."""
    core = getattr(np, '_core', None) or np.core
    names = [core.multiarray._reconstruct, core.multiarray.scalar,
             np.ndarray, np.dtype]
    # The dtype classes pickled with arrays and scalars (numpy >= 1.25).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in ('Float64DType', 'Float32DType', 'Float16DType',
                     'Int64DType', 'Int32DType', 'Int16DType', 'Int8DType',
                     'UInt8DType', 'BoolDType'):
            if hasattr(dtypes, name):
                names.append(getattr(dtypes, name))
    return names


_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name: str):
    """Stands in for ``builtins.getattr`` while unpickling.

    MMEngine pickles ``HistoryBuffer``'s statistics methods (min, max,
    current, mean and registered ones) as ``getattr(HistoryBuffer, name)``.
    Only that lookup is allowed; a general ``getattr`` would let a crafted
    file reach arbitrary attributes.
    """
    owner = obj if isinstance(obj, type) else type(obj)
    if (owner is HistoryBuffer and isinstance(name, str)
            and (name in _BUILTIN_STATISTICS
                 or name in HistoryBuffer._statistics_methods)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({owner.__name__}, {name!r}) is not allowed in a '
        'checkpoint (only HistoryBuffer statistics methods are)')


#: Every non-tensor global a checkpoint of this toolbox may contain
#: (``builtins.getattr`` only in the restricted form above).
ALLOWED_GLOBALS = [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')
                   ] + _numpy_globals()


def _global_name(entry) -> str:
    if isinstance(entry, tuple):
        return entry[1]
    return f'{entry.__module__}.{entry.__qualname__}'


def load_checkpoint_file(filename: str, map_location=None):
    """``torch.load`` a local checkpoint with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        RuntimeError: the file needs a global outside ``ALLOWED_GLOBALS``
            (it could run code when unpickled); the message lists them.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
                filename)
        except Exception:  # not a zip checkpoint: torch's message says why
            unsafe = []
        allowed = {_global_name(g) for g in ALLOWED_GLOBALS}
        unsafe = [g for g in unsafe if g not in allowed] or ['(see below)']
        raise RuntimeError(
            f'refusing to load checkpoint {filename}: it needs the globals '
            f'{unsafe}, which are not in the allow-list of '
            f'lcreg.engine.runner.safe_checkpoint (loading them could run '
            f'arbitrary code). If you trust the file, re-save its tensors '
            f'only (e.g. torch.save({{"state_dict": ...}})). Details: '
            f'{str(e).splitlines()[0]}') from None


def install() -> None:
    """Make MMEngine load local checkpoints through the allow-list."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_checkpoint_file, force=True)
