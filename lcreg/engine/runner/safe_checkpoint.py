"""Load checkpoints with ``torch.load(weights_only=True)`` and an allow-list.

Since torch 2.6 ``torch.load`` refuses to unpickle anything but tensors and
plain containers unless the global is allow-listed. MMEngine checkpoints
also hold the message hub (``HistoryBuffer`` objects with numpy arrays) and
numpy scalars, so MMEngine's resume fails there. Instead of falling back to
unrestricted unpickling (which runs arbitrary code from the file), this
module allow-lists exactly the globals our runs write, and refuses any
other checkpoint with a message that names the file and the globals.
A file that is not a PyTorch checkpoint at all (a text file, a truncated
copy) is reported as such, in one line; nothing is ever unpickled without
the allow-list.

``install()`` replaces MMEngine's loader of local files; it is called when
``lcreg`` is imported.
"""
import os.path as osp
import pickle
import re
import zipfile
from typing import List, Optional

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


_ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
#: ``torch.save``'s legacy (non-zip) format starts with this number pickled.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_ZIP_MAGIC = b'PK\x03\x04'


def _plain(text: str) -> str:
    """``text`` without ANSI escape codes, on one line."""
    return ' '.join(_ANSI.sub('', text).split())


def _starts_like_legacy_checkpoint(head: bytes) -> bool:
    return any(head.startswith(pickle.dumps(_LEGACY_MAGIC, protocol=p))
               for p in range(2, pickle.HIGHEST_PROTOCOL + 1))


def _describe_start(head: bytes) -> str:
    """``it is a text file starting with '...'`` or the first bytes."""
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as e:  # a character cut at the 512th byte?
        text = head[:e.start].decode('utf-8') if e.start > len(head) - 4 \
            else ''
    lines = text.strip().splitlines()
    if lines and all(c.isprintable() or c in '\t\r\n' for c in text):
        return f'it is a text file starting with {lines[0][:40]!r}'
    return f'it starts with the bytes {head[:16]!r}'


def not_a_checkpoint_reason(filename: str, error: BaseException
                            ) -> Optional[str]:
    """Why ``filename`` is no readable ``torch.save`` file, or None when it
    looks like one (then ``error``, what ``torch.load`` raised, stands).

    Reads the file's structure only (zip records and their CRCs, the legacy
    format's magic number); never unpickles anything.
    """
    with open(filename, 'rb') as f:
        head = f.read(512)
    if not head:
        return 'the file is empty'
    if head.startswith(_ZIP_MAGIC):  # torch.save's format since torch 1.6
        try:
            with zipfile.ZipFile(filename) as archive:
                names = archive.namelist()
                if not any(n.endswith('/data.pkl') or n == 'data.pkl'
                           for n in names):
                    return ('a zip archive without the data.pkl record of '
                            'torch.save')
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError):
            return ('a zip archive whose end (the central directory) is '
                    'missing or damaged, as in a truncated copy')
        if bad is not None:
            return f'the zip record {bad} is damaged (CRC mismatch)'
        return None
    if _starts_like_legacy_checkpoint(head):  # torch.save's legacy format
        if isinstance(error, EOFError) or 'truncated' in str(error).lower():
            return 'the data ends early, as in a truncated copy'
        return None
    if zipfile.is_zipfile(filename):
        return 'a zip archive not written by torch.save'
    return (f'{_describe_start(head)}, neither the zip archive that '
            'torch.save writes nor its legacy format')


def load_checkpoint_file(filename: str, map_location=None):
    """``torch.load`` a local checkpoint with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a PyTorch checkpoint, or a damaged /
            truncated one.
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
    except Exception as e:
        try:
            reason = not_a_checkpoint_reason(filename, e)
        except OSError:  # unreadable: torch's error says why
            reason = None
        if reason is not None:
            raise ValueError(
                f'{filename} is not a PyTorch checkpoint (or is damaged/'
                f'truncated): {reason}; pass a .pth file saved by '
                f'tools/train.py (e.g. <work_dir>/epoch_N.pth), or copy it '
                f'again if the copy was cut short') from None
        if not isinstance(e, pickle.UnpicklingError):
            raise
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
                filename)
        except Exception:  # legacy format: torch's message says why
            unsafe = []
        allowed = {_global_name(g) for g in ALLOWED_GLOBALS}
        unsafe = [g for g in unsafe if g not in allowed] or ['(see below)']
        raise RuntimeError(
            f'refusing to load checkpoint {filename}: it needs the globals '
            f'{unsafe}, which are not in the allow-list of '
            f'lcreg.engine.runner.safe_checkpoint (loading them could run '
            f'arbitrary code). If you trust the file, re-save its tensors '
            f'only (e.g. torch.save({{"state_dict": ...}})). Details: '
            f'{_plain(str(e).splitlines()[0])}') from None


def install() -> None:
    """Make MMEngine load local checkpoints through the allow-list."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_checkpoint_file, force=True)
