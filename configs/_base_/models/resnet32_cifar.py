# The CIFAR ResNet-32 of the long-tailed literature with a linear classifier.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarResNet', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        # as LDAM-DRW's / MiSLAS' resnet_cifar.py (kaiming_normal_ on the
        # classifier, fan-in; MMPretrain's default is Normal(0, 0.01)); the
        # bias starts at 0 where theirs keeps PyTorch's U(±1/√fan_in)
        init_cfg=dict(type='Kaiming', layer='Linear', mode='fan_in',
                      nonlinearity='relu', distribution='normal'),
    ))
