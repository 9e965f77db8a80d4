# SHORTENED schedule for a CPU check (not the paper recipe): the recipe of
# configs/baselines/resnet32_cifar10-lt-if100_remix-drw.py cut to 12 + 2 epochs:
# warm-up over epochs 0-1 (factors 0.2, 1.0), x0.01 at epoch 12 and x0.0001
# at 13 (the recipe's 160 / 180); validation only at the end; 0 dataloader
# workers (CPU).
_base_ = ['../baselines/resnet32_cifar10-lt-if100_remix-drw.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=2),
    dict(type='MultiStepLR', by_epoch=True, milestones=[12, 13], gamma=0.01),
]
train_cfg = dict(max_epochs=14, val_interval=100)
# DRW from epoch 12 (200-epoch recipe: 160, with the first lr decay)
custom_hooks = [
    dict(type='DeferredReweightingHook', start_epoch=12, beta=0.9999)]
train_dataloader = dict(num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
default_hooks = dict(logger=dict(interval=20))
