# ImageNet-LT (Liu et al., 2019): 1,000 classes, 115,846 training images
# (1,280 to 5 per class); total batch 256 = 8 GPUs × 32.
#
# Layout of the decoupling (facebookresearch/classifier-balancing) and MiSLAS
# repositories, everything under data_root = 'data':
#   data/ImageNet_LT/ImageNet_LT_{train,val,test}.txt   the split lists
#   data/imagenet/{train,val}/<wnid>/*.JPEG             ImageNet-2012 images
# List lines are '<path relative to the image root> <label>', e.g.
# 'train/n01440764/n01440764_190.JPEG 0' (the test list points into val/).
#
# Augmentation as MiSLAS (and decoupling): RandomResizedCrop 224, horizontal
# flip, ColorJitter(0.4, 0.4, 0.4, hue 0); test: short edge 256, centre crop
# 224. Like the literature we report (and validate on) the 50-per-class test
# list; select hyper-parameters (e.g. tau of tau-normalisation) on the
# 20-per-class val list instead:
#   --cfg-options \
#       val_dataloader.dataset.ann_file=ImageNet_LT/ImageNet_LT_val.txt
#
# train_dataloader.batch_size is per process (MMPretrain's convention): 32,
# so `tools/dist_train.sh CONFIG 8` trains the recipe's total batch of 256,
# the one its learning rates are for (auto_scale_lr.base_batch_size). On N
# GPUs add `--auto-scale-lr` (lrs rescaled linearly to N x 32) or set
# train_dataloader.batch_size=256//N. The start of the log says which.
dataset_type = 'ImageNetLT'
data_root = 'data'
data_prefix = 'imagenet'

data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.0),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

# class-aware sampling and label-aware smoothing (stage 2) need every class
train_dataset = dict(
    type=dataset_type, data_root=data_root, data_prefix=data_prefix,
    ann_file='ImageNet_LT/ImageNet_LT_train.txt', require_all_classes=True,
    pipeline=train_pipeline)

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=train_dataset)

val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, data_prefix=data_prefix,
        ann_file='ImageNet_LT/ImageNet_LT_test.txt', test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# Many / medium / few are defined by the training counts of each class.
val_evaluator = dict(type='LongTailMetric', train_dataset=train_dataset,
                     topk=(1, 5))
test_evaluator = val_evaluator
