# Decoupling baseline LWS (learnable weight scaling; Kang et al., ICLR
# 2020), ResNet-50, ImageNet-LT: the cRT job (resnet50_imagenet-lt_crt.py)
# except that stage 2 keeps the stage-1 classifier fixed and learns only one
# scale per class (logits <- s * logits, s initialised to 1), with
# class-aware sampling and cross-entropy, lr 0.1 cosine, BN statistics
# re-estimated (shift_bn=True, as cRT), and runs 5 epochs (90-94), not
# cRT's 10: decoupling's ImageNet_LT/cls_lws.yaml (its iNaturalist18 and
# Places_LT cls_lws.yaml also run 5; their cls_crt.yaml 30 and 10).
# Batch 32 per GPU: `tools/dist_train.sh <this config> 8` trains the recipe's
# total batch of 256 at its lr 0.1; on other GPU counts add --auto-scale-lr
# (lrs rescaled linearly to the total batch; the log's start says which).
_base_ = ['./resnet50_imagenet-lt_crt.py']
stage1_epochs = 90
stage2_epochs = 5

param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=stage1_epochs, eta_min=0.0),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]
train_cfg = dict(
    max_epochs=stage1_epochs + stage2_epochs,
    stage2=dict(
        reset_classifier=False,
        train_classifier=False,
        train_scale=True))
