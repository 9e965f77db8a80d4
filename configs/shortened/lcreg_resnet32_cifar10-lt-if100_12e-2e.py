# SHORTENED schedule for a CPU check (not the paper recipe): the recipe of
# configs/lcreg/resnet32_cifar10-lt-if100.py with stage 1 cut to 12 epochs
# (1-epoch warm-up, x0.1 at 9 and 11) and stage 2 to 2 epochs; validation
# only at the end; 0 dataloader workers (CPU).
_base_ = ['../lcreg/resnet32_cifar10-lt-if100.py']
stage1_epochs = 12
stage2_epochs = 2
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[9, 11], gamma=0.1,
         begin=0, end=stage1_epochs),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]
train_cfg = dict(max_epochs=stage1_epochs + stage2_epochs,
                 stage1_epochs=stage1_epochs, val_interval=100)
train_dataloader = dict(num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
default_hooks = dict(logger=dict(interval=20))
