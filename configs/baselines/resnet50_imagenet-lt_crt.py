# Decoupling baseline cRT (classifier re-training; Kang et al., ICLR 2020),
# ResNet-50, ImageNet-LT, both stages in one job, total batch 256 (the
# paper's batch 512 / lr 0.2, scaled linearly):
# stage 1 (epochs 0-89): joint cross-entropy training, instance-balanced
#   sampling, no mixup, SGD lr 0.1, wd 5e-4, cosine to 0 (Kang et al.:
#   90 epochs);
# stage 2 (epochs 90-99, 10 epochs as decoupling's cls_crt.yaml): the
#   representation frozen, the linear classifier re-initialised and
#   re-trained with class-aware sampling (4 per class) and plain
#   cross-entropy, lr 0.1 cosine; no weight scaling (the head's scale stays
#   1). BN layers in train mode (shift_bn=True): as in the decoupling code
#   (run_networks.py calls train() on every network and freezes through
#   requires_grad only), their running statistics are re-estimated on the
#   class-balanced stream; BN affine parameters and conv weights stay fixed.
# tau-normalisation needs no training: tools/analysis/tau_norm_sweep.py on
# the stage-1 checkpoint (<work dir>/stage1.pth), then the tools/test.py
# command the sweep prints.
# Batch 32 per GPU: `tools/dist_train.sh <this config> 8` trains the recipe's
# total batch of 256 at its lr 0.1; on other GPU counts add --auto-scale-lr
# (lrs rescaled linearly to the total batch; the log's start says which).
_base_ = [
    '../_base_/models/resnet50.py',
    '../_base_/datasets/imagenet-lt_bs32.py',
    '../_base_/schedules/imagenet-lt_mislas_180e-10e.py',
    '../_base_/default_runtime.py',
]
stage1_epochs = 90
stage2_epochs = 10

# ScaledLinearClsHead = LinearClsHead + a per-class scale (used by LWS) +
# inference tau-normalisation; CE loss as in the joint baseline.
model = dict(head=dict(type='ScaledLinearClsHead'))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=stage1_epochs, eta_min=0.0),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]
train_cfg = dict(
    max_epochs=stage1_epochs + stage2_epochs,
    stage1_epochs=stage1_epochs,
    stage2=dict(
        lr=0.1,
        lr_factor=1.0,
        loss=None,  # keep the stage-1 cross-entropy
        reset_classifier=True,
        train_classifier=True,
        train_scale=False,
        shift_bn=True))  # decoupling: train() on the frozen network
