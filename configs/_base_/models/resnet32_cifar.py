# The CIFAR ResNet-32 of the long-tailed literature with a linear classifier.
# Classifier init as LDAM-DRW's and MiSLAS' resnet_cifar.py: kaiming_normal_
# (fan-in, gain sqrt(2)) on the weight (their bias keeps PyTorch's
# U(±1/sqrt(fan_in)); here 0), not MMPretrain's Normal(0, 0.01).
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
        init_cfg=dict(type='Kaiming', layer='Linear', mode='fan_in',
                      nonlinearity='relu', distribution='normal'),
    ))
