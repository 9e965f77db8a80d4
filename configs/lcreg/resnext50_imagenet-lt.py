# LCReg (on MiSLAS), ResNeXt-50 (32x4d), ImageNet-LT: the ResNet-50 recipe
# with MMPretrain's ResNeXt backbone. Its last stage has 2048 channels like
# ResNet-50's, so the neck (in_channels 2048) and the head (4096) stay.
_base_ = ['./resnet50_imagenet-lt.py']
model = dict(
    backbone=dict(type='ResNeXt', depth=50, groups=32, width_per_group=4))
