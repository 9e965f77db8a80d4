
from .class_aware_sampler import ClassAwareSampler  # noqa: F401
from .balanced_samplers import ProgressivelyBalancedSampler  # noqa: F401
from .balanced_samplers import SquareRootSampler  # noqa: F401
