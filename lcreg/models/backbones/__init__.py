
from .cifar_resnet import CifarResNet  # noqa: F401
