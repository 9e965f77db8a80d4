# Ablation "ISDA on classes vs ISDA on latent categories": the MiSLAS
# recipe ../../mislas/resnet32_cifar10-lt-if100.py (no latent neck) with the
# stage-1 class loss replaced by class-wise ISDA (Wang et al., NeurIPS
# 2019) on the pooled feature: per-class covariances (full, 64x64) with
# the same online estimator as LCReg's latent ISDA loss, lambda = 0.5·t/T
# over stage 1 (LatentAugScheduleHook), mixup kept (the loss of a mixed
# image mixes the augmented losses of its two classes). Stage 2 is MiSLAS'
# (label-aware smoothing replaces the loss at the switch). Compare with
# ./resnet32_cifar10-lt-if100_latent-aug.py (ISDA on latent categories).
_base_ = ['../../mislas/resnet32_cifar10-lt-if100.py']
model = dict(head=dict(
    type='ISDALinearClsHead',
    loss=dict(_delete_=True, type='ClassISDALoss', loss_weight=1.0,
              lambda0=0.5, cov_type='full')))
custom_hooks = [dict(type='LatentAugScheduleHook')]
