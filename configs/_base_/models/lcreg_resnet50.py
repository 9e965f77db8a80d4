# LCReg on MMPretrain's ResNet-50 (on top of MiSLAS): latent category neck on
# the 2048×7×7 map, total loss (eq. 7) = 1.0*cls + 0.1*latent_aug + 0.1*recon.
# D = 2048: diagonal latent covariances (a full M×D×D one would be 0.42 G
# floats, 1.7 GB, for M = 100) with the larger ISDA strength of ImageNet-scale
# training, lambda0 = 7.5 (ISDA's ImageNet value; shared design doc).
_base_ = ['./mislas_resnet50.py']
model = dict(
    type='LatentCategoryClassifier',
    neck=dict(
        _delete_=True,
        type='LatentCategoryNeck',
        in_channels=2048,
        num_latents=100,
        fuse='concat',
        assign_temperature=1.0,
        # cosine / 0.1 (paper-literal: norm='none'; README, ablation)
        recon_loss=dict(type='ReconstructionLoss', loss_weight=0.1,
                        norm='l2', temperature=0.1),
        aug_loss=dict(type='LatentISDALoss', loss_weight=0.1, lambda0=7.5,
                      cov_type='diag'),
    ),
    head=dict(in_channels=4096),  # fuse='concat': [X; R] -> 2·2048
)
# λ = λ0·t/T over stage 1. A child config that sets custom_hooks replaces
# this list: keep the hook in it (TwoStageTrainLoop refuses a run without).
custom_hooks = [dict(type='LatentAugScheduleHook')]
