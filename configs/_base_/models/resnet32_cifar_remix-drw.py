# Remix + DRW (Chou et al., ECCV-W 2020) on the CIFAR ResNet-32: Remix batch
# augmentation (Beta(1, 1) image mixing, labels pushed to the minority class:
# kappa = 3, tau = 0.5), cross-entropy on the soft labels, class-balanced
# weights (beta = 0.9999) from epoch 160 as in LDAM-DRW. The weighted mean
# divides by the batch's weight sum, as LDAM-DRW's losses.
_base_ = ['./resnet32_cifar.py']
model = dict(
    head=dict(loss=dict(_delete_=True,
                        type='ClassWeightedCrossEntropyLoss')),
    train_cfg=dict(augments=dict(type='Remix', alpha=1.0, kappa=3.0,
                                 tau=0.5)))
custom_hooks = [
    dict(type='DeferredReweightingHook', start_epoch=160, beta=0.9999)]
