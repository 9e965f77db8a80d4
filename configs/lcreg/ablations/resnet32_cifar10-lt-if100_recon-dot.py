# Design-choice ablation: the paper-literal reconstruction loss (eq. 4 on raw
# dot products R·Xᵀ) instead of the default cosine / 0.1. See the README's
# "Defaults" table for the measured comparison.
_base_ = ['../resnet32_cifar10-lt-if100.py']
model = dict(neck=dict(recon_loss=dict(norm='none')))
