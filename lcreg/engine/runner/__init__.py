from .cpu_distributed import destroy_process_group, setup_cpu_distributed
from .safe_checkpoint import ALLOWED_GLOBALS, install as _install_loader

_install_loader()

__all__ = ['ALLOWED_GLOBALS', 'destroy_process_group',
           'setup_cpu_distributed']
from .two_stage_train_loop import TwoStageTrainLoop  # noqa: F401
