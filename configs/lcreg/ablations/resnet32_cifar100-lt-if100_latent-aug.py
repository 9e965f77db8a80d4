# Ablation (paper Table 4, row "+ latent category + latent aug"): the LCReg
# recipe ../resnet32_cifar100-lt-if100.py without the reconstruction loss.
# Paper: 47.4 % top-1.
_base_ = ['../resnet32_cifar100-lt-if100.py']
model = dict(neck=dict(recon_loss=None))
