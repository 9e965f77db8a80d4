# Decoupling baseline LWS (learnable weight scaling; Kang et al., ICLR
# 2020), ResNet-32, CIFAR-10-LT IF100: the cRT job
# (resnet32_cifar10-lt-if100_crt.py) except that stage 2 keeps the stage-1
# classifier fixed and learns only one scale per class (logits <- s * logits,
# s initialised to 1), with class-aware sampling and cross-entropy, lr 0.1,
# BN statistics re-estimated (shift_bn=True, as cRT). 10 epochs like cRT:
# the decoupling repository has no CIFAR recipe (its ImageNet-LT,
# iNaturalist and Places-LT LWS run 5, see resnet50_imagenet-lt_lws.py).
_base_ = ['./resnet32_cifar10-lt-if100_crt.py']
train_cfg = dict(stage2=dict(
    reset_classifier=False,
    train_classifier=False,
    train_scale=True))
