# MiSLAS on the CIFAR ResNet-32: mixup (alpha 1.0) in stage 1, a linear
# classifier with learnable weight scaling (trained in stage 2 only).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarResNet', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ScaledLinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True),
        topk=(1, ),
    ),
    train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)),
)
