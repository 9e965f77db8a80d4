# The embedded default of `make demo`: LCReg (ResNet-32, 10 latent
# categories) on Digits-LT, both stages (30 + 5 epochs), on the CPU in a
# few minutes. A demo of the pipeline, not a benchmark.
_base_ = [
    '../_base_/models/lcreg_resnet32_cifar.py',
    '../_base_/datasets/digits-lt_bs64.py',
    '../_base_/schedules/cifar_lt_mislas_200e-10e.py',
    '../_base_/default_runtime.py',
]
stage1_epochs = 30
stage2_epochs = 5

model = dict(neck=dict(num_latents=10))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[24, 28], gamma=0.1,
         begin=0, end=stage1_epochs),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]
train_cfg = dict(
    max_epochs=stage1_epochs + stage2_epochs,
    stage1_epochs=stage1_epochs,
    val_interval=5,
    stage2=dict(lr_factor=0.5))
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
