# logit-adjusted loss (Menon et al., ICLR 2021): ResNet-50, ImageNet-LT, single stage,
# 90 epochs cosine at total batch 256 (configs/_base_/schedules/imagenet-lt_90e.py).
# Batch 32 per GPU: `tools/dist_train.sh <this config> 8` trains the
# recipe's total batch of 256 at its lr 0.1; on other GPU counts add
# --auto-scale-lr (lrs rescaled linearly to the total batch).
_base_ = [
    '../_base_/models/resnet50.py',
    '../_base_/datasets/imagenet-lt_bs32.py',
    '../_base_/schedules/imagenet-lt_90e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(loss=dict(_delete_=True, type='LogitAdjustedLoss', tau=1.0)))
