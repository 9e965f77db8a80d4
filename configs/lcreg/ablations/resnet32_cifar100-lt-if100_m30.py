# Ablation (paper Table 3, number of latent categories): LCReg, ResNet-32,
# CIFAR-100-LT IF100 with M = 30 (the recipe ../resnet32_cifar100-lt-if100.py
# uses M = 50). The paper reports 47.2 % top-1 for this setting.
_base_ = ['../resnet32_cifar100-lt-if100.py']
model = dict(neck=dict(num_latents=30))
