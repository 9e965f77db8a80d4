# logit-adjusted loss (Menon et al., ICLR 2021): ResNet-32, CIFAR-10-LT IF10, the 200-epoch LDAM-DRW schedule
# (configs/_base_/schedules/cifar_lt_ldam_200e.py); the method is in
# configs/_base_/models/resnet32_cifar_logit-adjust.py.
_base_ = [
    '../_base_/models/resnet32_cifar_logit-adjust.py',
    '../_base_/datasets/cifar10-lt-if10_bs128.py',
    '../_base_/schedules/cifar_lt_ldam_200e.py',
    '../_base_/default_runtime.py',
]
