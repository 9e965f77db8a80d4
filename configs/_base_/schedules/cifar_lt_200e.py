# The 200-epoch CIFAR-LT schedule of MiSLAS' stage 1 (the LDAM-DRW schedule
# with MiSLAS' decay factors): SGD with plain momentum 0.9 (no Nesterov, as
# both), lr 0.1, 5-epoch linear warm-up, x0.1 at epoch 160, x0.01 at 180.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[160, 180], gamma=0.1),
]

train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# The lrs are for a total batch of 128: tools/train.py --auto-scale-lr
# rescales them linearly for another total batch (world size x batch_size).
auto_scale_lr = dict(enable=False, base_batch_size=128)
