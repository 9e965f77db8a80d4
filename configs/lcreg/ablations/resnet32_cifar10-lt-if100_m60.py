# Ablation (paper Table 3, number of latent categories): LCReg, ResNet-32,
# CIFAR-10-LT IF100 with M = 60 (the recipe ../resnet32_cifar10-lt-if100.py
# uses M = 40). The paper reports 79.6 % top-1 for this setting.
_base_ = ['../resnet32_cifar10-lt-if100.py']
model = dict(neck=dict(num_latents=60))
