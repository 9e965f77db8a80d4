"""What a run ran on: CPU model and threads, or the GPU's name."""
import os
import platform
from typing import Dict


def cpu_model(cpuinfo: str = '/proc/cpuinfo') -> str:
    """The ``model name`` of ``cpuinfo`` (Linux), else ``platform``'s."""
    if os.path.exists(cpuinfo):
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_hardware(device: str) -> Dict[str, object]:
    """``{'device', 'cpu', 'cpu_count', 'threads', 'gpu'}`` of this process.

    ``threads``: PyTorch's intra-op threads, which a ``tools/train.py`` child
    started with the same environment uses too. ``gpu``: the name of CUDA
    device 0 when ``device`` is ``'cuda'``, else None.
    """
    import torch
    gpu = None
    if device == 'cuda' and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return dict(device=device, cpu=cpu_model(), cpu_count=os.cpu_count(),
                threads=torch.get_num_threads(), gpu=gpu)


def hardware_label(hw: Dict[str, object]) -> str:
    """One line, e.g. ``'NVIDIA H200'`` or ``'AMD EPYC 9454 (2 threads)'``."""
    if hw.get('gpu'):
        return str(hw['gpu'])
    return f"{hw.get('cpu')} ({hw.get('threads')} threads)"


def precision_label(amp: bool, channels_last: bool, device: str) -> str:
    """How a run computed: ``'fp32'``, ``'bf16'`` (``--amp`` on a CPU) or
    ``'fp16'`` (``--amp`` on a GPU), plus ``', channels-last'``."""
    precision = ('bf16' if device == 'cpu' else 'fp16') if amp else 'fp32'
    return precision + (', channels-last' if channels_last else '')
