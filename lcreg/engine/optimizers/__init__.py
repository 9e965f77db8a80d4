from .stage_optim_constructor import StageOptimWrapperConstructor, parameter_roles  # noqa: F401
