# MiSLAS on Places-LT: MMPretrain's ImageNet-pretrained ResNet-152, frozen
# (also in stage 1), whose last Bottleneck (layer4.2) is deleted and replaced
# by a new, freshly initialised, trainable one (2048 -> 2048, width 512): the
# frozen trunk is [3, 8, 36, 2] (MiSLAS' resnet152_fe), the pretrained
# layer4.2 weights load into nothing. Only the new block, the neck and the
# classifier are trained (MiSLAS / decoupling / OLTR). Mixup alpha 0.2 in
# stage 1. replace_last_block=False keeps all of [3, 8, 36, 3] and stacks
# the new block on top instead.
#
# The pretrained weights are MMPretrain's ResNet-152 (ImageNet-1k, 78.48 %
# top-1), loaded through init_cfg when training starts. Offline, download
# the file first and put its local path in `checkpoint`.
_base_ = ['./mislas_resnet50.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='FrozenBackboneWithExtraBlock',
        replace_last_block=True,
        in_channels=2048,
        backbone=dict(
            type='ResNet', depth=152, num_stages=4, out_indices=(3, ),
            style='pytorch', frozen_stages=4, norm_eval=True,
            init_cfg=dict(
                type='Pretrained',
                checkpoint='https://download.openmmlab.com/mmclassification/'
                'v0/resnet/resnet152_8xb32_in1k_20210901-4d7582fa.pth',
                prefix='backbone')),
    ),
    head=dict(num_classes=365),
)
