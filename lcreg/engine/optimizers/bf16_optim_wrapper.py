"""bfloat16 mixed precision on the CPU (``tools/train.py --amp`` without a GPU).

MMEngine's ``AmpOptimWrapper`` asserts an accelerator. On a CPU with native
bfloat16 arithmetic (AVX512-BF16 or AMX-BF16), ``torch.autocast('cpu',
dtype=torch.bfloat16)`` runs the convolutions and matrix products in
bfloat16: a ResNet-32 step is ~1.7x faster on the AMD EPYC of our CI. bfloat16
has float32's exponent range, so no loss scaling is needed; gradients and
the optimizer state stay float32 (autocast casts copies, the parameters are
never converted). The LCReg neck and its losses switch autocast off for
their own arithmetic, as on a GPU.

A CPU without those instructions is refused with one clear error: autocast
would still run there, in slow emulated bfloat16, and an fp32 fallback would
silently change what ``--amp`` means.
"""
import os
from contextlib import contextmanager
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS

#: /proc/cpuinfo flags of the instruction sets that compute in bfloat16.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_bf16_flags(cpuinfo: str = '/proc/cpuinfo') -> Dict[str, bool]:
    """Which of ``BF16_CPU_FLAGS`` this CPU has.

    Read from the ``flags`` line of ``cpuinfo`` (Linux; the kernel lists the
    instruction sets the CPU reports; PyTorch 2.14 has no public probe for
    them). A missing file reads as no flags.
    Returns ``{'avx512_bf16': bool, 'amx_bf16': bool}``.
    """
    flags = set()
    if os.path.exists(cpuinfo):
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('flags'):
                    flags.update(line.split(':', 1)[1].split())
                    break
    return {flag: flag in flags for flag in BF16_CPU_FLAGS}


def check_cpu_bf16(flags: Optional[Dict[str, bool]] = None) -> None:
    """Raise ``RuntimeError`` unless the CPU computes natively in bfloat16."""
    flags = cpu_bf16_flags() if flags is None else flags
    if not any(flags.values()):
        raise RuntimeError(
            '--amp on the CPU trains in bfloat16 and needs a CPU with the '
            'AVX512-BF16 or AMX-BF16 instruction set (/proc/cpuinfo flag '
            "'avx512_bf16' or 'amx_bf16'); this CPU has neither. Drop --amp "
            '(float32), or train on a GPU.')


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under CPU bfloat16 autocast.

    Same arguments as MMEngine's ``OptimWrapper`` (``optimizer``,
    ``accumulative_counts``, ``clip_grad``). Built only on a CPU that has
    ``BF16_CPU_FLAGS``; the model must be on the CPU.
    """

    def __init__(self, **kwargs):
        check_cpu_bf16()
        super().__init__(**kwargs)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield


def mixed_precision_optim_wrapper(optim_wrapper: dict, device: str) -> dict:
    """The ``optim_wrapper`` config of ``--amp`` on ``device``.

    * ``cuda`` / ``npu`` / ``mlu`` / ``musa``: MMEngine's
      ``AmpOptimWrapper`` (float16 with dynamic loss scaling);
    * ``cpu``: ``CPUBF16OptimWrapper`` (bfloat16, no loss scaling), after
      checking the CPU;
    * anything else (e.g. ``mps``): refused.

    A config that already names one of the two wrappers is returned as is.
    """
    cfg = dict(optim_wrapper)
    kind = cfg.get('type', 'OptimWrapper')
    if kind in ('AmpOptimWrapper', 'CPUBF16OptimWrapper'):
        return cfg
    if kind != 'OptimWrapper':
        raise ValueError(
            f'--amp replaces optim_wrapper.type, which is {kind!r} in this '
            "config; set it to 'OptimWrapper' or drop --amp.")
    if device in ('cuda', 'npu', 'mlu', 'musa'):
        cfg['type'] = 'AmpOptimWrapper'
        cfg.setdefault('loss_scale', 'dynamic')
    elif device == 'cpu':
        check_cpu_bf16()
        cfg['type'] = 'CPUBF16OptimWrapper'
    else:
        raise ValueError(
            f'--amp trains in float16 on CUDA / NPU / MLU / MUSA and in '
            f'bfloat16 on a CPU; this machine\'s device is {device}; drop '
            '--amp.')
    return cfg
