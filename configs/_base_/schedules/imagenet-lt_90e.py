# A 90-epoch single-stage ImageNet-LT schedule (the joint-training schedule
# of the decoupling paper, Kang et al. ICLR 2020, scaled to a total batch of
# 256): SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine to 0 per epoch.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))

param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=90,
         eta_min=0.0),
]

train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# The lrs are for a total batch of 256 (8 processes x 32): tools/train.py
# --auto-scale-lr rescales them linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=256)
