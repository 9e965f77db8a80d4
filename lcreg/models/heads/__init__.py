from .scaled_linear_head import ScaledLinearClsHead, tau_norm_sweep  # noqa: F401
from .normed_linear_head import NormedLinearClsHead  # noqa: F401
from .isda_linear_head import ISDALinearClsHead  # noqa: F401
