# Class-balanced focal loss (Cui et al., CVPR 2019) on the CIFAR ResNet-32:
# the softmax focal loss (gamma = 1) with class-balanced weights
# (1 - beta) / (1 - beta^n_j), beta = 0.9999, normalised to sum C, for the
# whole run (DeferredReweightingHook with start_epoch = 0). Cui et al.'s
# best CIFAR rows use the sigmoid form with beta and gamma tuned per data
# set; this is the softmax variant.
_base_ = ['./resnet32_cifar_focal.py']
custom_hooks = [
    dict(type='DeferredReweightingHook', start_epoch=0, beta=0.9999)]
