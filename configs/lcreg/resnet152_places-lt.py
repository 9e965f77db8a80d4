# LCReg (on MiSLAS), ResNet-152, Places-LT, M = 100 latent categories. The
# ImageNet-pretrained ResNet-152 stays frozen, its last Bottleneck (layer4.2)
# replaced by a new one; that block, the neck and the classifier are trained
# (see _base_/models/mislas_resnet152_places.py):
# 90 epochs stage 1 (cosine, mixup 0.2) + 10 epochs stage 2 (label-aware
# smoothing 0.4/0.1, shift-BN True, classifier lr factor 0.05).
# Batch 32 per GPU: `tools/dist_train.sh <this config> 8` trains the recipe's
# total batch of 256 at its lr 0.1; on other GPU counts add --auto-scale-lr
# (lrs rescaled linearly to the total batch; the log's start says which).
_base_ = [
    '../_base_/models/lcreg_resnet152_places.py',
    '../_base_/datasets/places-lt_bs32.py',
    '../_base_/schedules/places-lt_mislas_90e-10e.py',
    '../_base_/default_runtime.py',
]
model = dict(neck=dict(num_latents=100), head=dict(num_classes=365))
train_cfg = dict(stage2=dict(
    lr_factor=0.05,
    shift_bn=True,
    loss=dict(smooth_head=0.4, smooth_tail=0.1)))
