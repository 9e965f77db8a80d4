# Plain cross-entropy baseline: ResNet-32, CIFAR-100-LT IF100, 200 epochs,
# instance-balanced sampling, no mixup.
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/cifar100-lt_bs128.py',
    '../_base_/schedules/cifar_lt_200e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=100))
