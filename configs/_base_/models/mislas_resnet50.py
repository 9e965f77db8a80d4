# MiSLAS on MMPretrain's ResNet-50 (ImageNet-LT, iNaturalist 2018): mixup
# (alpha 0.2, the large-scale value) in stage 1, a linear classifier with
# learnable weight scaling (trained in stage 2 only).
# Initialisation as MiSLAS' models/resnet.py: convolutions Kaiming-normal
# (fan_out, ReLU) and BN weight 1 / bias 0 (MMPretrain's ResNet default), but
# zero_init_residual=False (MMPretrain defaults to True: the last BN of every
# residual branch starting at 0); the classifier keeps PyTorch's nn.Linear
# init (init_cfg=None; MMPretrain's head default is Normal(0, 0.01)).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
                  style='pytorch', zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ScaledLinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True),
        topk=(1, 5),
        init_cfg=None,
    ),
    train_cfg=dict(augments=dict(type='Mixup', alpha=0.2)),
)
