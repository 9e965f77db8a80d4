
from .cifar_resnet import CifarResNet  # noqa: F401
from .frozen_with_extra_block import FrozenBackboneWithExtraBlock  # noqa: F401
