# MiSLAS two-stage Places-LT schedule (total batch 256), run as one job by
# TwoStageTrainLoop. Values from the MiSLAS repository's configs.
# Stage 1 (epochs 0-89): SGD lr 0.1, momentum 0.9, weight decay 5e-4,
# cosine decay per epoch to 0, no warm-up. Stage 2 (epochs 90-99):
# representation frozen, class-aware sampling (4 per class), label-aware
# smoothing 0.4/0.1, shift-BN, learnable weight scaling, lr 0.1 cosine per
# epoch, classifier lr = lr_factor * lr = 0.05 * 0.1, same weight decay.
stage1_epochs = 90
stage2_epochs = 10

optim_wrapper = dict(
    constructor='StageOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))

param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=stage1_epochs, eta_min=0.0),
    # stage 2: the loop sets the lrs at the switch, this decays them
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]

train_cfg = dict(
    type='TwoStageTrainLoop',
    max_epochs=stage1_epochs + stage2_epochs,
    stage1_epochs=stage1_epochs,
    val_interval=5,
    stage2=dict(
        lr=0.1,
        lr_factor=0.05,
        sampler=dict(type='ClassAwareSampler', num_samples_cls=4),
        loss=dict(type='LabelAwareSmoothingLoss', smooth_head=0.4,
                  smooth_tail=0.1, shape='concave'),
        shift_bn=True,
    ))
val_cfg = dict()
test_cfg = dict()
# The lrs are for a total batch of 256: tools/train.py --auto-scale-lr
# rescales them linearly for another total batch (world size x batch_size),
# stage 1 (MMEngine) and stage 2 (TwoStageTrainLoop, stage2.lr) alike.
auto_scale_lr = dict(enable=False, base_batch_size=256)

# Stage 2 freezes parameters after DDP is built.
find_unused_parameters = True
