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


#: Every non-tensor global a checkpoint of this toolbox may contain.
ALLOWED_GLOBALS = [HistoryBuffer] + _numpy_globals()


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
        allowed = {f'{g.__module__}.{g.__qualname__}' for g in ALLOWED_GLOBALS}
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
