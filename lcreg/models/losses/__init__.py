
from .latent_covariance import LatentCovarianceEstimator  # noqa: F401
from .latent_isda_loss import LatentISDALoss  # noqa: F401
from .reconstruction_loss import ReconstructionLoss  # noqa: F401
from .label_aware_smoothing_loss import LabelAwareSmoothingLoss  # noqa: F401
