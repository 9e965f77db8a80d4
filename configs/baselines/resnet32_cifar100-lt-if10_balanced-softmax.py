# Balanced Softmax (Ren et al., NeurIPS 2020): ResNet-32, CIFAR-100-LT IF10, the 200-epoch LDAM-DRW schedule
# (configs/_base_/schedules/cifar_lt_ldam_200e.py); the method is in
# configs/_base_/models/resnet32_cifar_balanced-softmax.py.
_base_ = [
    '../_base_/models/resnet32_cifar_balanced-softmax.py',
    '../_base_/datasets/cifar100-lt-if10_bs128.py',
    '../_base_/schedules/cifar_lt_ldam_200e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=100))
