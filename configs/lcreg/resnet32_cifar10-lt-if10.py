# LCReg (on MiSLAS), ResNet-32, CIFAR-10-LT IF10: 200 epochs stage 1 + 10 epochs stage 2
# (stage 2: label-aware smoothing 0.1/0.0, shift-BN False, classifier lr factor 0.2).
_base_ = [
    '../_base_/models/lcreg_resnet32_cifar.py',
    '../_base_/datasets/cifar10-lt-if10_bs128.py',
    '../_base_/schedules/cifar_lt_mislas_200e-10e.py',
    '../_base_/default_runtime.py',
]
model = dict(neck=dict(num_latents=40), head=dict(num_classes=10))
train_cfg = dict(stage2=dict(
    lr_factor=0.2,
    shift_bn=False,
    loss=dict(smooth_head=0.1, smooth_tail=0.0)))
