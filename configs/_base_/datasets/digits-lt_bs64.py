# Digits-LT: scikit-learn's bundled handwritten digits (no download),
# 32x32, made long-tailed (IF 10, 120 -> 12 training images per class);
# 50 test images per class. A demo data set, not a benchmark.
data_preprocessor = dict(
    num_classes=10, mean=[76.0, 76.0, 76.0], std=[97.0, 97.0, 97.0],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataset = dict(
    type='LongTailed',
    dataset=dict(type='SklearnDigits', split='train',
                 pipeline=train_pipeline),
    imbalance_factor=10, imbalance_type='exp', seed=0, max_per_class=120)

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=train_dataset)
val_dataloader = dict(
    batch_size=250,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SklearnDigits', split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='LongTailMetric', train_dataset=train_dataset)
test_evaluator = val_evaluator
