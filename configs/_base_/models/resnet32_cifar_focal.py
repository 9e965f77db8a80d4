# Focal loss (Lin et al., ICCV 2017) on the CIFAR ResNet-32, in the softmax
# form of LDAM-DRW's focal baseline (gamma = 1): -(1 - p_y)^gamma log p_y.
_base_ = ['./resnet32_cifar.py']
model = dict(head=dict(
    loss=dict(_delete_=True, type='SoftmaxFocalLoss', gamma=1.0)))
