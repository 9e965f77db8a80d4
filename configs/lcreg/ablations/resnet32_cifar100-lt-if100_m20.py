# Ablation (paper Table 3, number of latent categories): LCReg, ResNet-32,
# CIFAR-100-LT IF100 with M = 20 (the recipe ../resnet32_cifar100-lt-if100.py
# uses M = 50). The paper reports 47.1 % top-1 for this setting.
_base_ = ['../resnet32_cifar100-lt-if100.py']
model = dict(neck=dict(num_latents=20))
