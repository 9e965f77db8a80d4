# LCReg on the CIFAR ResNet-32 (on top of MiSLAS): latent category neck
# with M latents, total loss (eq. 7) = 1.0*cls + 0.1*latent_aug + 0.1*recon.
_base_ = ['./mislas_resnet32_cifar.py']
model = dict(
    type='LatentCategoryClassifier',
    neck=dict(
        _delete_=True,
        type='LatentCategoryNeck',
        in_channels=64,
        num_latents=40,
        fuse='concat',
        assign_temperature=1.0,
        # cosine / 0.1 (paper-literal: norm='none'; README, ablation)
        recon_loss=dict(type='ReconstructionLoss', loss_weight=0.1,
                        norm='l2', temperature=0.1),
        aug_loss=dict(type='LatentISDALoss', loss_weight=0.1, lambda0=0.5,
                      cov_type='full'),
    ),
    head=dict(in_channels=128),  # fuse='concat': [X; R] -> 2·64
)
# λ = λ0·t/T over stage 1. A child config that sets custom_hooks replaces
# this list: keep the hook in it (TwoStageTrainLoop refuses a run without).
custom_hooks = [dict(type='LatentAugScheduleHook')]
