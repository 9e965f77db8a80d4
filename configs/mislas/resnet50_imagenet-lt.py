# MiSLAS, ResNet-50, ImageNet-LT:
# 180 epochs stage 1 (cosine, mixup 0.2) + 10 epochs stage 2 (label-aware
# smoothing 0.3/0.0, shift-BN True, classifier lr factor 0.05).
_base_ = [
    '../_base_/models/mislas_resnet50.py',
    '../_base_/datasets/imagenet-lt_bs256.py',
    '../_base_/schedules/imagenet-lt_mislas_180e-10e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=1000))
train_cfg = dict(stage2=dict(
    lr_factor=0.05,
    shift_bn=True,
    loss=dict(smooth_head=0.3, smooth_tail=0.0)))
