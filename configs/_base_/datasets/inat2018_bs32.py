# iNaturalist 2018 (Van Horn et al., 2018): 8,142 classes, 437,513 training
# images (1,000 to 2 per class); total batch 256 = 8 GPUs × 32.
#
# Layout of the decoupling (facebookresearch/classifier-balancing) and MiSLAS
# repositories, everything under data_root = 'data':
#   data/iNaturalist18/iNaturalist18_{train,val}.txt   the split lists
#   data/inaturalist2018/train_val2018/<super>/<id>/*.jpg  the images
# List lines are '<path relative to the image root> <label>', e.g.
# 'train_val2018/Plantae/7291/9f8e....jpg 7291'. The official COCO-style
# json files work too: ann_file='inaturalist2018/train2018.json' (and
# val2018.json), data_prefix='inaturalist2018'.
#
# Augmentation as MiSLAS: RandomResizedCrop 224, horizontal flip,
# ColorJitter(0.4, 0.4, 0.4, hue 0) and MiSLAS' iNaturalist mean/std
# (0.466, 0.471, 0.380) / (0.195, 0.194, 0.192), times 255; test: short edge
# 256, centre crop 224. iNaturalist has no test labels: the literature
# reports the 3-per-class val list, which is also used for validation here.
#
# train_dataloader.batch_size is per process (MMPretrain's convention): 32,
# so `tools/dist_train.sh CONFIG 8` trains the recipe's total batch of 256,
# the one its learning rates are for (auto_scale_lr.base_batch_size). On N
# GPUs add `--auto-scale-lr` (lrs rescaled linearly to N x 32) or set
# train_dataloader.batch_size=256//N. The start of the log says which.
dataset_type = 'INat2018'
data_root = 'data'
data_prefix = 'inaturalist2018'

data_preprocessor = dict(
    num_classes=8142,
    mean=[118.83, 120.105, 96.9],
    std=[49.725, 49.47, 48.96],
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
    ann_file='iNaturalist18/iNaturalist18_train.txt',
    require_all_classes=True, pipeline=train_pipeline)

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
        ann_file='iNaturalist18/iNaturalist18_val.txt', test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# Many / medium / few are defined by the training counts of each class.
val_evaluator = dict(type='LongTailMetric', train_dataset=train_dataset,
                     topk=(1, 5))
test_evaluator = val_evaluator
