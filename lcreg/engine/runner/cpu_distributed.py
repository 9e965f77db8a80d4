"""Multi-process training on CPUs (gloo) with MMEngine's launchers.

MMEngine's ``pytorch`` and ``slurm`` launchers always call
``torch.cuda.set_device`` and MMEngine wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; both fail on a machine without GPUs. When no
GPU is visible we initialise the gloo process group ourselves (MMEngine then
skips its own initialisation) and build DDP with ``device_ids=None``.

``sync_bn`` (MMEngine's top-level config key, e.g. ``sync_bn = 'torch'``) is
dropped with a warning on this path: ``torch.nn.SyncBatchNorm`` only runs on
GPUs and would fail at the first training iteration.
"""
import os
import warnings

import torch
import torch.distributed as dist
from mmengine.config import Config


def _slurm_to_env() -> None:
    """Fill torch's env:// variables from SLURM's (as MMEngine does)."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        import subprocess
        first = subprocess.getoutput(
            f"scontrol show hostname {os.environ['SLURM_NODELIST']} | head -n1")
        os.environ['MASTER_ADDR'] = first


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare ``cfg`` and the process group for CPU multi-processing.

    Does nothing for ``launcher='none'`` or when a GPU is visible (then
    MMEngine's own NCCL path is used). Returns whether it acted.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher == 'slurm':
        _slurm_to_env()
    elif launcher != 'pytorch':
        raise ValueError(f"--launcher {launcher!r} is not supported on CPUs; "
                         "use 'pytorch' (torchrun) or 'slurm'")
    if cfg.get('sync_bn') is not None:
        warnings.warn(
            f"sync_bn={cfg.sync_bn!r} is ignored: SyncBatchNorm needs CUDA "
            'and this multi-process run is on CPUs (gloo); every process '
            'normalises with the statistics of its own share of the batch.',
            UserWarning, stacklevel=2)
        cfg.sync_bn = None
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', init_method='env://')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    # The settings MMEngine's own DDP path takes when model_wrapper_cfg is
    # unset: the config's top-level find_unused_parameters (stage 2 of the
    # two-stage recipes freezes parameters after DDP is built) and per-process
    # BN buffers.
    wrapper.setdefault('find_unused_parameters',
                       bool(cfg.get('find_unused_parameters', False)))
    wrapper.setdefault('broadcast_buffers', False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True


def destroy_process_group() -> None:
    """End the process group at the end of a tool (gloo or NCCL), as
    PyTorch asks: left to interpreter exit, its background threads can be
    destroyed while still running ("terminate called without an active
    exception", exit status -6, seen once on a loaded 2-core machine)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
