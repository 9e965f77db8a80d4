# Decoupling baseline LWS (learnable weight scaling; Kang et al., ICLR
# 2020), ResNet-50, ImageNet-LT: the cRT job (resnet50_imagenet-lt_crt.py)
# except that stage 2 keeps the stage-1 classifier fixed and learns only one
# scale per class (logits <- s * logits, s initialised to 1), with
# class-aware sampling and cross-entropy, lr 0.1.
_base_ = ['./resnet50_imagenet-lt_crt.py']
train_cfg = dict(stage2=dict(
    reset_classifier=False,
    train_classifier=False,
    train_scale=True))
