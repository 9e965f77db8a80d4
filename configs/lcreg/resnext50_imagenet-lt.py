# LCReg (on MiSLAS), ResNeXt-50 (32x4d), ImageNet-LT: the ResNet-50 recipe
# with MMPretrain's ResNeXt backbone. Its last stage has 2048 channels like
# ResNet-50's, so the neck (in_channels 2048) and the head (4096) stay.
# Batch 32 per GPU: `tools/dist_train.sh <this config> 8` trains the recipe's
# total batch of 256 at its lr 0.1; on other GPU counts add --auto-scale-lr
# (lrs rescaled linearly to the total batch; the log's start says which).
_base_ = ['./resnet50_imagenet-lt.py']
model = dict(
    backbone=dict(type='ResNeXt', depth=50, groups=32, width_per_group=4))
