# MiSLAS on MMPretrain's ResNet-50 (ImageNet-LT, iNaturalist 2018): mixup
# (alpha 0.2, the large-scale value) in stage 1, a linear classifier with
# learnable weight scaling (trained in stage 2 only).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ScaledLinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=dict(type='Mixup', alpha=0.2)),
)
