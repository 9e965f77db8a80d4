# Ablation (paper Table 4, row "+ latent category"): the LCReg recipe
# ../resnet32_cifar10-lt-if100.py with latent categories and the concat
# fusion (head input GAP([X; R])) but neither the latent augmentation nor
# the reconstruction loss. Paper: 82.2 % top-1.
_base_ = ['../resnet32_cifar10-lt-if100.py']
model = dict(neck=dict(recon_loss=None, aug_loss=None))
custom_hooks = []  # no latent ISDA loss: nothing to schedule
