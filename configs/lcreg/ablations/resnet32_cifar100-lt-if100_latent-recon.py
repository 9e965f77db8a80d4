# Ablation (paper Table 4, row "+ latent category + latent recon"): the
# LCReg recipe ../resnet32_cifar100-lt-if100.py without the latent
# augmentation loss. Paper: 47.3 % top-1.
_base_ = ['../resnet32_cifar100-lt-if100.py']
model = dict(neck=dict(aug_loss=None))
custom_hooks = []  # no latent ISDA loss: nothing to schedule
