# class-balanced focal loss (Cui et al., CVPR 2019): ResNet-32, CIFAR-100-LT IF50, the 200-epoch LDAM-DRW schedule
# (configs/_base_/schedules/cifar_lt_ldam_200e.py); the method is in
# configs/_base_/models/resnet32_cifar_cb-focal.py.
_base_ = [
    '../_base_/models/resnet32_cifar_cb-focal.py',
    '../_base_/datasets/cifar100-lt-if50_bs128.py',
    '../_base_/schedules/cifar_lt_ldam_200e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=100))
