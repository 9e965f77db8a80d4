"""Peak memory of a block of training steps, for the benchmarks.

:class:`PeakMemory` measures ``torch.cuda.max_memory_allocated`` on a GPU
and, on a Linux CPU with glibc, the growth of the resident set's
high-water mark while :func:`set_mmap_threshold` makes freed tensor memory
go back to the OS at once (see the class docstring).
"""
import gc
import os

import torch

MMAP_SMALL = 64 * 1024  # CPU memory pass: glibc mmaps every block > 64 KiB
MMAP_LARGE = 32 * 1024 * 1024  # CPU timing: heap reuse (glibc's dynamic max)
M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)


def _libc():
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library('c')
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not all(hasattr(libc, f)
                               for f in ('mallopt', 'malloc_trim')):
        return None
    return libc


class PeakMemory:
    """Peak memory of a block of training steps.

    GPU: ``torch.cuda.max_memory_allocated`` (reset by :meth:`start`).
    CPU (Linux, glibc): growth of the resident set's high-water mark (VmHWM
    of /proc/self/status, reset through /proc/self/clear_refs) over the RSS
    at :meth:`start`, measured while :func:`set_mmap_threshold` makes glibc
    mmap every block over 64 KiB: freed tensor memory then goes back to the
    OS at once and the high-water mark is the peak of live memory, whatever
    the allocator kept from earlier measurements (heap reuse and
    fragmentation otherwise make the RSS peak depend on the order of the
    measurements). Without glibc or /proc the process peak ``ru_maxrss`` is
    used (a lower bound, labelled so).
    """

    def __init__(self, device):
        self.device = device
        self.libc = _libc() if device == 'cpu' else None
        self.cpu_exact = (device == 'cpu' and self.libc is not None
                          and os.access('/proc/self/clear_refs', os.W_OK))

    @staticmethod
    def _status_kib(field):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
        raise RuntimeError(f'/proc/self/status has no {field}')

    def start(self):
        gc.collect()
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = 0
        elif self.cpu_exact:
            self.libc.malloc_trim(0)  # give the cached free heap back
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
            self.base = self._status_kib('VmRSS')
        else:
            import resource
            self.base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak_mib(self) -> float:
        if self.device == 'cuda':
            return torch.cuda.max_memory_allocated() / 2**20
        if self.cpu_exact:
            return (self._status_kib('VmHWM') - self.base) / 1024
        import resource  # process-lifetime peak growth only: a lower bound
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss -
                self.base) / 1024

    @property
    def label(self) -> str:
        if self.device == 'cuda':
            return 'peak CUDA memory allocated (MiB)'
        if self.cpu_exact:
            return 'peak RSS growth (MiB)'
        return 'peak RSS growth, ru_maxrss (MiB, lower bound)'


def set_mmap_threshold(size: int) -> bool:
    """glibc ``mallopt(M_MMAP_THRESHOLD, size)``: blocks over ``size`` are
    mmapped (and unmapped when freed). The memory pass uses 64 KiB, so the
    RSS follows live memory; the timing uses 32 MiB, the value glibc's
    dynamic threshold reaches in a warm training loop (mmapping every
    tensor would make the CPU time mostly page faults). Returns False
    without glibc."""
    libc = _libc()
    return bool(libc is not None
                and libc.mallopt(M_MMAP_THRESHOLD, size) == 1)
