from .latent_covariance import LatentCovarianceEstimator  # noqa: F401
from .latent_isda_loss import LatentISDALoss  # noqa: F401
from .reconstruction_loss import ReconstructionLoss  # noqa: F401
from .label_aware_smoothing_loss import LabelAwareSmoothingLoss  # noqa: F401
from .class_balanced import class_balanced_weights  # noqa: F401
from .ldam_loss import LDAMLoss  # noqa: F401
from .logit_adjusted_loss import LogitAdjustedLoss  # noqa: F401
from .balanced_softmax_loss import BalancedSoftmaxLoss  # noqa: F401
from .softmax_focal_loss import (ClassWeightedCrossEntropyLoss,  # noqa: F401
                                 SoftmaxFocalLoss)
from .class_isda_loss import ClassISDALoss  # noqa: F401
