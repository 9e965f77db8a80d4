from .bf16_optim_wrapper import (CPUBF16OptimWrapper, check_cpu_bf16,  # noqa: F401
                                 cpu_bf16_flags,
                                 mixed_precision_optim_wrapper)
from .stage_optim_constructor import StageOptimWrapperConstructor, parameter_roles  # noqa: F401
