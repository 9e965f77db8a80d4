# MiSLAS on the CIFAR ResNet-32: mixup (alpha 1.0) in stage 1, a linear
# classifier with learnable weight scaling (trained in stage 2 only).
_base_ = ['./resnet32_cifar.py']
model = dict(
    head=dict(
        type='ScaledLinearClsHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True),
    ),
    train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)),
)
