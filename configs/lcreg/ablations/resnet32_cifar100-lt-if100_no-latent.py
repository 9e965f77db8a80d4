# Ablation (paper Table 4, row "baseline": no component): the LCReg recipe
# ../resnet32_cifar100-lt-if100.py with the latent branch removed. The neck
# is then exactly global average pooling (no latent parameters), i.e. MiSLAS
# run through the LCReg code path. Paper: 47.0 % top-1.
_base_ = ['../resnet32_cifar100-lt-if100.py']
model = dict(
    neck=dict(fuse='none', recon_loss=None, aug_loss=None),
    head=dict(in_channels=64))
custom_hooks = []  # no latent ISDA loss: nothing to schedule
