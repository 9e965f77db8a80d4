# MiSLAS on Places-LT: MMPretrain's ImageNet-pretrained ResNet-152, frozen
# (also in stage 1), plus one new trainable Bottleneck (2048 -> 2048, width
# 512) on its last stage; only that block, the neck and the classifier are
# trained (MiSLAS / decoupling / OLTR). Mixup alpha 0.2 in stage 1.
#
# The pretrained weights are MMPretrain's ResNet-152 (ImageNet-1k, 78.48 %
# top-1), loaded through init_cfg when training starts. Offline, download
# the file first and put its local path in `checkpoint`.
_base_ = ['./mislas_resnet50.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='FrozenBackboneWithExtraBlock',
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
