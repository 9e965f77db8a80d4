
from .scaled_linear_head import ScaledLinearClsHead, tau_norm_sweep  # noqa: F401
