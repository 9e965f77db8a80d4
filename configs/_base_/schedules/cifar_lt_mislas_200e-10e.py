# MiSLAS two-stage CIFAR-LT schedule, run as one job by TwoStageTrainLoop.
# Stage 1 (epochs 0-199): SGD lr 0.1, 5-epoch linear warm-up, x0.1 at 160,
# x0.01 at 180. Stage 2 (epochs 200-209): representation frozen,
# class-aware sampling (4 per class), label-aware smoothing, learnable
# weight scaling, lr 0.1 cosine per epoch, classifier lr = lr_factor * lr.
stage1_epochs = 200
stage2_epochs = 10

optim_wrapper = dict(
    constructor='StageOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[160, 180], gamma=0.1,
         begin=0, end=stage1_epochs),
    # stage 2: the loop sets the lrs at the switch, this decays them
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]

train_cfg = dict(
    type='TwoStageTrainLoop',
    max_epochs=stage1_epochs + stage2_epochs,
    stage1_epochs=stage1_epochs,
    val_interval=10,
    stage2=dict(
        lr=0.1,
        lr_factor=0.5,
        sampler=dict(type='ClassAwareSampler', num_samples_cls=4),
        loss=dict(type='LabelAwareSmoothingLoss', smooth_head=0.3,
                  smooth_tail=0.0, shape='concave'),
        shift_bn=False,
    ))
val_cfg = dict()
test_cfg = dict()
# The lrs are for a total batch of 128: tools/train.py --auto-scale-lr
# rescales them linearly for another total batch (world size x batch_size),
# stage 1 (MMEngine) and stage 2 (TwoStageTrainLoop, stage2.lr) alike.
auto_scale_lr = dict(enable=False, base_batch_size=128)

# Stage 2 freezes parameters after DDP is built.
find_unused_parameters = True
