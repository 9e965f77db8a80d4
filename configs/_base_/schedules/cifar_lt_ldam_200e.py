# The 200-epoch CIFAR-LT schedule of LDAM-DRW's cifar_train.py
# (adjust_learning_rate), used by the loss / re-weighting / Remix baselines:
# SGD with plain momentum 0.9, lr 0.1, weight decay 2e-4, batch 128;
# warm-up per epoch, lr * (epoch + 1) / 5 for epochs 0-4 (0.02, ..., 0.1);
# x0.01 from epoch 160 and x0.0001 from epoch 180 (MiSLAS' schedule,
# cifar_lt_200e.py, decays by 0.1 / 0.01 and warms up per iteration).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4))

param_scheduler = [
    # factors 0.2, 0.4, 0.6, 0.8, 1.0 at epochs 0-4 (MMEngine's LinearLR
    # reaches end_factor at epoch end - 1)
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, milestones=[160, 180],
         gamma=0.01),
]

train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# The lrs are for a total batch of 128: tools/train.py --auto-scale-lr
# rescales them linearly for another total batch (world size x batch_size).
auto_scale_lr = dict(enable=False, base_batch_size=128)
