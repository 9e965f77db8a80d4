# CIFAR-100-LT (LDAM-DRW split, imbalance factor 100), batch 128.
# data/cifar100 holds cifar-100-python (see README: Data). A re-packed copy
# (e.g. built by ../shared/data/make_cifar.py) needs verify_md5=False in
# both datasets.
dataset_type = 'CIFAR100LT'
data_root = 'data/cifar100'
imbalance_factor = 100

# Normalised with the CIFAR-10 statistics (0.4914, 0.4822, 0.4465) /
# (0.2023, 0.1994, 0.2010) x 255, as LDAM-DRW's cifar_train.py and MiSLAS'
# datasets/cifar100.py do for CIFAR-100 (not CIFAR-100's own statistics).
data_preprocessor = dict(
    num_classes=100,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataset = dict(
    type=dataset_type, data_root=data_root, split='train',
    imbalance_factor=imbalance_factor, imbalance_type='exp', seed=0,
    verify_md5=True,
    pipeline=train_pipeline)

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=train_dataset)

val_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 verify_md5=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# Many / medium / few are defined by the training counts of each class. Both
# rules are reported (lt/rank_*, lt/threshold_*); lt/many etc. follow MiSLAS'
# rank ranges, as the LCReg paper's Table 5 does (the > 100 / < 20 thresholds
# leave CIFAR-10-LT IF100 without a few-shot class).
val_evaluator = dict(type='LongTailMetric', train_dataset=train_dataset,
                     split_mode='rank')
test_evaluator = val_evaluator
