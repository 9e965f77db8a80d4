"""Every config of the repository parses, builds and runs a training step.

* each ``configs/**/*.py`` outside ``_base_`` parses with MMEngine's
  ``Config``, its model builds from the registries and does one forward +
  loss (and one prediction) on a tiny random batch: 2×3×32×32 for the CIFAR
  backbone, 2×3×64×64 for the ImageNet-style ones (pretrained ``init_cfg``
  removed: nothing is downloaded);
* the training and evaluation datasets of the large-scale configs build
  from the real split lists in ``<repo>/../shared/data/splits`` (images need
  not exist) with the right number of classes;
* the recipe values of the large-scale configs are those of the shared
  design doc (schedules, stage 2, M);
* ablation configs give the intended modules (Table 3: M; Table 4: which
  latent parts exist), and so do the ``--cfg-options`` documented in
  ``configs/lcreg/README.md`` for the large-scale ablations;
* inheritance: an LCReg config differs from its MiSLAS counterpart only in
  the model type, the neck, the head's input width and the λ hook; an
  ablation only in neck / head width / hooks; LWS from cRT only in the
  stage-2 switches.
"""
import copy
import functools
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample
from torch import nn

import lcreg  # noqa: F401  (registration)
from lcreg.engine.hooks.class_counts_hook import count_consumers
from lcreg.engine.optimizers.stage_optim_constructor import parameter_roles
from lcreg.utils import merge_cfg_options

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs'
SPLITS = REPO.parent / 'shared' / 'data' / 'splits'
CONFIGS = sorted(
    str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')
    if '_base_' not in p.relative_to(CONFIG_DIR).parts)
LARGE_SCALE_TYPES = ('ImageNetLT', 'PlacesLT', 'INat2018')
# (images, classes) of the real split lists
SPLIT_SIZES = {
    'ImageNet_LT/ImageNet_LT_train.txt': (115846, 1000),
    'ImageNet_LT/ImageNet_LT_test.txt': (50000, 1000),
    'Places_LT/Places_LT_train.txt': (62500, 365),
    'Places_LT/Places_LT_test.txt': (36500, 365),
    'iNaturalist18/iNaturalist18_train.txt': (437513, 8142),
    'iNaturalist18/iNaturalist18_val.txt': (24426, 8142),
}


@functools.lru_cache(maxsize=None)
def _load(rel_path: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / rel_path))


def load(rel_path: str) -> Config:
    """A private copy of the parsed config (parsing is cached)."""
    return copy.deepcopy(_load(rel_path))


def _strip_pretrained(node) -> int:
    """Remove ``init_cfg=dict(type='Pretrained', ...)`` everywhere below
    ``node`` (in place); returns how many were removed."""
    removed = 0
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            del node['init_cfg']
            removed += 1
        for value in node.values():
            removed += _strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            removed += _strip_pretrained(value)
    return removed


def model_cfg(cfg: Config) -> dict:
    """``cfg.model`` as the Runner builds it, without pretrained weights."""
    model = cfg.model.to_dict()
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', cfg.data_preprocessor.to_dict())
    _strip_pretrained(model)
    return model


def build_model(cfg: Config) -> nn.Module:
    return MODELS.build(model_cfg(cfg))


def image_size(cfg: Config) -> int:
    return 32 if cfg.model.backbone.type == 'CifarResNet' else 64


def flatten(node, prefix=''):
    """``{'a.b.c': leaf}`` of nested dicts (lists are leaves)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f'{prefix}{key}.'))
        return out
    return {prefix[:-1]: node}


def config_diff(a: Config, b: Config):
    """Dotted keys whose values differ between two configs."""
    fa, fb = flatten(a.to_dict()), flatten(b.to_dict())
    return sorted(k for k in set(fa) | set(fb) if fa.get(k, '<absent>') !=
                  fb.get(k, '<absent>'))


def allowed(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + '.') for p in prefixes)


def neck_losses_of(model):
    neck = model.neck
    return (getattr(neck, 'recon_loss', None) is not None,
            getattr(neck, 'aug_loss', None) is not None)


# ----------------------------------------------------------- every config
def test_config_list_is_complete():
    """The recipes of the shared design doc and the ablations exist."""
    expected = [
        'lcreg/resnet50_imagenet-lt.py', 'lcreg/resnet50_inat2018.py',
        'lcreg/resnet152_places-lt.py', 'lcreg/resnext50_imagenet-lt.py',
        'mislas/resnet50_imagenet-lt.py', 'mislas/resnet50_inat2018.py',
        'mislas/resnet152_places-lt.py',
        'baselines/resnet32_cifar10-lt-if100_crt.py',
        'baselines/resnet32_cifar10-lt-if100_lws.py',
        'baselines/resnet50_imagenet-lt_crt.py',
        'baselines/resnet50_imagenet-lt_lws.py',
    ] + [f'lcreg/resnet32_cifar{c}-lt-if{f}.py' for c in (10, 100)
         for f in (100, 50, 10)]
    assert not set(expected) - set(CONFIGS)
    assert len([c for c in CONFIGS if c.startswith('lcreg/ablations/')]) \
        == 19


@pytest.mark.parametrize('rel_path', CONFIGS)
def test_config_builds_and_runs_one_step(rel_path):
    cfg = load(rel_path)
    assert cfg.custom_imports.imports == ['lcreg']
    torch.manual_seed(0)
    model = build_model(cfg)
    num_classes = model.head.num_classes
    # count-dependent parts get their counts from ClassCountsHook before a
    # run; here a made-up long-tailed profile stands in for the data
    for _, consumer in count_consumers(model):
        consumer.set_class_counts([max(100 // (j + 1), 1)
                                   for j in range(num_classes)])
    if cfg.get('data_preprocessor') is not None:
        assert cfg.data_preprocessor.num_classes == num_classes

    size = image_size(cfg)
    labels = [0, num_classes - 1]
    batch = dict(
        inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
                for _ in labels],
        data_samples=[DataSample().set_gt_label(y) for y in labels])
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    losses = model(**data, mode='loss')
    for key, value in losses.items():
        assert torch.isfinite(value).all(), f'{rel_path}: {key} = {value}'
    assert 'loss' in losses or 'loss_cls' in losses  # LCReg logs the head term as loss_cls
    if hasattr(model.neck, 'num_latents'):  # LCReg: eq. 7 terms present
        with_recon, with_aug = neck_losses_of(model)
        assert ('loss_recon' in losses) == with_recon
        assert ('loss_latent_aug' in losses) == with_aug
    sum(losses.values()).backward()
    trained = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is not None]
    assert any(n.startswith('head.') for n in trained)
    assert any(n.startswith('backbone.') for n in trained)

    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(batch, False),
                      mode='predict')
    assert [tuple(p.pred_score.shape) for p in preds] == [(num_classes, )] * 2


@pytest.mark.parametrize('rel_path', CONFIGS)
def test_evaluator_uses_the_training_set(rel_path):
    """Many / medium / few are defined by the run's own training counts."""
    cfg = load(rel_path)
    for name in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg[name]
        assert evaluator.type == 'LongTailMetric'
        assert evaluator.train_dataset == cfg.train_dataloader.dataset


# ------------------------------------------------ large-scale data configs
def _large_scale(rel_path):
    return load(rel_path).train_dataloader.dataset.type in LARGE_SCALE_TYPES


LARGE_SCALE = [c for c in CONFIGS if _large_scale(c)]
needs_splits = pytest.mark.skipif(
    not SPLITS.is_dir(),
    reason=f'split lists not found at {SPLITS} (<repo>/../shared/data/splits)')


def _on_real_splits(dataset_cfg) -> dict:
    dataset_cfg = dataset_cfg.to_dict()
    ann_file = SPLITS / dataset_cfg['ann_file']
    if not ann_file.is_file():
        pytest.skip(f'{dataset_cfg["ann_file"]} is not in {SPLITS} (the '
                    'iNaturalist 2018 training list is over the snapshot '
                    'limit, see ../shared/data/SOURCES.md)')
    dataset_cfg['data_root'] = str(SPLITS)
    return dataset_cfg


@functools.lru_cache(maxsize=None)
def _split_stats(dataset_key):
    """(len, num_classes, class_counts) of a dataset config (cached: many
    configs share the same list)."""
    dataset = DATASETS.build(dict(dataset_key))
    counts = dataset.metainfo['class_counts']
    return len(dataset), dataset.metainfo['num_classes'], tuple(counts)


def _stats(dataset_cfg: dict):
    key = tuple((k, v) for k, v in dataset_cfg.items() if k != 'pipeline')
    return _split_stats(key)


def test_large_scale_configs_found():
    assert len(LARGE_SCALE) >= 9  # 4 lcreg + 3 mislas + cRT/LWS pair


@needs_splits
@pytest.mark.parametrize('rel_path', LARGE_SCALE)
def test_train_set_builds_from_real_splits(rel_path):
    cfg = load(rel_path)
    dataset_cfg = _on_real_splits(cfg.train_dataloader.dataset)
    assert dataset_cfg['require_all_classes'] is True
    assert not dataset_cfg.get('test_mode', False)
    # the pipeline builds too (transform names and arguments are valid)
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset.pipeline.transforms) == len(dataset_cfg['pipeline'])
    num_images, num_classes = SPLIT_SIZES[dataset_cfg['ann_file']]
    length, classes, counts = _stats(dataset_cfg)
    assert (length, classes, len(counts)) == (num_images, num_classes,
                                              num_classes)
    assert min(counts) >= 1 and sum(counts) == num_images
    assert cfg.model.head.num_classes == num_classes


@needs_splits
@pytest.mark.parametrize('rel_path', LARGE_SCALE)
def test_eval_sets_build_from_real_splits(rel_path):
    """ImageNet-LT and Places-LT report their test lists, iNaturalist its
    val list, all in test mode."""
    cfg = load(rel_path)
    reported = {'ImageNetLT': 'ImageNet_LT/ImageNet_LT_test.txt',
                'PlacesLT': 'Places_LT/Places_LT_test.txt',
                'INat2018': 'iNaturalist18/iNaturalist18_val.txt'}
    for name in ('val_dataloader', 'test_dataloader'):
        dataset_cfg = _on_real_splits(cfg[name].dataset)
        assert dataset_cfg['ann_file'] == reported[dataset_cfg['type']]
        assert dataset_cfg['test_mode'] is True
        num_images, num_classes = SPLIT_SIZES[dataset_cfg['ann_file']]
        length, classes, counts = _stats(dataset_cfg)
        assert (length, classes) == (num_images, num_classes)
        assert cfg.model.head.num_classes == num_classes
        assert len(set(counts)) == 1  # balanced


# ------------------------------------------------- recipe values (doc table)
# config: (stage-1 epochs, weight decay, ε_head, ε_tail, lr_factor, M)
RECIPES = {
    'resnet50_imagenet-lt.py': (180, 5e-4, 0.3, 0.0, 0.05, 100),
    'resnet50_inat2018.py': (200, 1e-4, 0.3, 0.0, 0.05, 200),
    'resnet152_places-lt.py': (90, 5e-4, 0.4, 0.1, 0.05, 100),
    'resnext50_imagenet-lt.py': (180, 5e-4, 0.3, 0.0, 0.05, 100),
}


@pytest.mark.parametrize('rel_path', [
    f'{m}/{name}' for m in ('lcreg', 'mislas') for name in RECIPES
    if (CONFIG_DIR / m / name).is_file()])
def test_large_scale_recipe_values(rel_path):
    epochs, wd, eps_head, eps_tail, lr_factor, num_latents = RECIPES[
        Path(rel_path).name]
    cfg = load(rel_path)
    # 32 per GPU: 8 GPUs give the recipe's 256 (MMPretrain's convention)
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=256)
    assert cfg.model.train_cfg.augments == dict(type='Mixup', alpha=0.2)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.1, 0.9, wd)
    assert cfg.optim_wrapper.constructor == 'StageOptimWrapperConstructor'
    train_cfg = cfg.train_cfg
    assert train_cfg.type == 'TwoStageTrainLoop'
    assert (train_cfg.stage1_epochs, train_cfg.max_epochs) == (epochs,
                                                               epochs + 10)
    stage2 = train_cfg.stage2
    assert (stage2.lr, stage2.lr_factor, stage2.shift_bn) == (0.1, lr_factor,
                                                              True)
    assert stage2.sampler == dict(type='ClassAwareSampler', num_samples_cls=4)
    assert (stage2.loss.type, stage2.loss.smooth_head,
            stage2.loss.smooth_tail) == ('LabelAwareSmoothingLoss', eps_head,
                                         eps_tail)
    # cosine over stage 1, then cosine over the 10 epochs of stage 2
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [
        ('CosineAnnealingLR', 0, epochs),
        ('CosineAnnealingLR', epochs, epochs + 10)]
    if rel_path.startswith('lcreg/'):
        neck = cfg.model.neck
        assert (neck.num_latents, neck.in_channels, neck.fuse) == (
            num_latents, 2048, 'concat')
        assert cfg.model.head.in_channels == 4096
        assert (neck.aug_loss.cov_type, neck.aug_loss.lambda0,
                neck.aug_loss.loss_weight, neck.recon_loss.loss_weight) == (
                    'diag', 7.5, 0.1, 0.1)
        assert cfg.custom_hooks == [dict(type='LatentAugScheduleHook')]


def test_resnext_config_swaps_only_the_backbone():
    resnext = load('lcreg/resnext50_imagenet-lt.py')
    resnet = load('lcreg/resnet50_imagenet-lt.py')
    diff = config_diff(resnext, resnet)
    assert diff and all(k.startswith('model.backbone.') for k in diff)
    assert resnext.model.backbone.type == 'ResNeXt'
    assert (resnext.model.backbone.groups,
            resnext.model.backbone.width_per_group) == (32, 4)


# --------------------------------------------- Places-LT frozen ResNet-152
@pytest.mark.parametrize('rel_path', ['mislas/resnet152_places-lt.py',
                                      'lcreg/resnet152_places-lt.py'])
def test_places_backbone_is_frozen_but_its_extra_block(rel_path):
    cfg = load(rel_path)
    inner = cfg.model.backbone.backbone
    assert (inner.type, inner.depth) == ('ResNet', 152)
    assert inner.init_cfg.type == 'Pretrained'  # ImageNet weights in training
    assert inner.init_cfg.prefix == 'backbone'
    model = build_model(cfg)
    trainable = {n for n, p in model.backbone.named_parameters()
                 if p.requires_grad}
    assert trainable == {f'extra_block.{n}'
                         for n, _ in model.backbone.extra_block
                         .named_parameters()}
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in model.backbone.backbone.modules())
    # the representation role holds the frozen weights (never updated) and
    # the extra block; stage 2 freezes both, the head stays trainable
    roles = parameter_roles(model)
    names = {n for n, _ in roles['representation']}
    assert {'backbone.backbone.conv1.weight',
            'backbone.extra_block.conv1.weight'} <= names


def _torchvision_resnet152_fe_weights():
    """{name: numel} of the learned weights (parameters; for BN, weight and
    bias) of torchvision's ResNet-152 without fc and without layer4.2:
    MiSLAS' resnet152_fe trunk [3, 8, 36, 2]."""
    import torchvision
    tv = torchvision.models.resnet152()
    return {n: p.numel() for n, p in tv.named_parameters()
            if not n.startswith(('fc.', 'layer4.2.'))}


def _learned_weights(module):
    """{name: numel} of parameters and of frozen-BN weight / bias buffers
    (running statistics left out)."""
    return {n: v.numel() for n, v in module.state_dict().items()
            if not n.endswith(('running_mean', 'running_var',
                               'num_batches_tracked'))}


@pytest.mark.parametrize('rel_path', ['mislas/resnet152_places-lt.py',
                                      'lcreg/resnet152_places-lt.py'])
def test_places_backbone_replaces_the_last_pretrained_block(rel_path,
                                                           tmp_path):
    """MiSLAS' resnet152_fe: the pretrained trunk is [3, 8, 36, 2] (layer4.2
    deleted), frozen; a new Bottleneck takes layer4.2's place. The
    pretrained layer4.2 weights load into nothing, layer4.1's load."""
    cfg = load(rel_path)
    assert cfg.model.backbone.replace_last_block is True
    backbone_cfg = model_cfg(cfg)['backbone']
    # the recipe's Pretrained init, on a checkpoint holding layer4.1 and
    # layer4.2 (distinct values) in MMPretrain's key layout
    gen = torch.Generator().manual_seed(0)
    reference = MODELS.build(dict(backbone_cfg['backbone']))
    source = {k: torch.rand(v.shape, generator=gen) + 2.0
              for k, v in reference.state_dict().items()
              if k.startswith(('layer4.1.', 'layer4.2.'))
              and not k.endswith('num_batches_tracked')}
    ckpt = tmp_path / 'resnet152_layer4.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v
                                for k, v in source.items()}), ckpt)
    backbone_cfg['backbone']['init_cfg'] = dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='backbone')
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()

    stages = [len(getattr(backbone.backbone, f'layer{i}'))
              for i in range(1, 5)]
    assert stages == [3, 8, 36, 2]
    # same weight names and sizes as MiSLAS' trunk: 53.68 M frozen weights
    frozen = _learned_weights(backbone.backbone)
    assert frozen == _torchvision_resnet152_fe_weights()
    assert sum(frozen.values()) == 53_681_216
    assert all(not p.requires_grad for p in backbone.backbone.parameters())
    # the new block: the only trainable weights, 4.46 M (a layer4 block)
    trainable = {n: p.numel() for n, p in backbone.named_parameters()
                 if p.requires_grad}
    assert set(trainable) == {f'extra_block.{n}' for n, _ in
                              backbone.extra_block.named_parameters()}
    assert sum(trainable.values()) == 4_462_592

    state = backbone.state_dict()
    for key, value in source.items():
        if key.startswith('layer4.1.'):
            assert torch.equal(state[f'backbone.{key}'], value), key
        else:
            assert not any(v.shape == value.shape and torch.equal(v, value)
                           for v in state.values()), key


# ------------------------------------------------------ inheritance sanity
def _pairs():
    """(lcreg config, its MiSLAS counterpart): same name in lcreg/ and
    mislas/, or lcreg_<x> / mislas_<x> in one folder."""
    pairs = []
    for rel in CONFIGS:
        path = Path(rel)
        if path.parts[0] == 'lcreg' and len(path.parts) == 2:
            other = str(Path('mislas', path.name))
        elif path.name.startswith('lcreg_'):
            other = str(path.with_name('mislas_' + path.name[6:]))
        else:
            continue
        if other in CONFIGS:
            pairs.append((rel, other))
    return pairs


LCREG_PARTS = ('model.type', 'model.neck', 'model.head.in_channels',
               'custom_hooks')


@pytest.mark.parametrize('lcreg_cfg, mislas_cfg', _pairs())
def test_lcreg_differs_from_mislas_only_in_the_latent_parts(lcreg_cfg,
                                                           mislas_cfg):
    diff = config_diff(load(lcreg_cfg), load(mislas_cfg))
    assert 'model.type' in diff
    assert [k for k in diff if not allowed(k, LCREG_PARTS)] == []


def test_every_large_scale_lcreg_recipe_has_a_mislas_pair():
    paired = {a for a, _ in _pairs()}
    for name in ('resnet50_imagenet-lt.py', 'resnet50_inat2018.py',
                 'resnet152_places-lt.py', 'resnet32_cifar10-lt-if100.py'):
        assert f'lcreg/{name}' in paired


# ------------------------------------------------------------ ablations
ABLATIONS = [c for c in CONFIGS if c.startswith('lcreg/ablations/')]
# Table 4 rows: (latent parameters, fuse, recon loss, aug loss)
TABLE4 = {
    'no-latent': (False, 'none', False, False),
    'latent': (True, 'concat', False, False),
    'latent-aug': (True, 'concat', False, True),
    'latent-recon': (True, 'concat', True, False),
}


# Design choices: (changed config key, value, where the built model has it)
DESIGN_CHOICES = {
    'recon-dot': ('model.neck.recon_loss.norm', 'none',
                  lambda model: model.neck.recon_loss.norm),
    'assign-t0.1': ('model.neck.assign_temperature', 0.1,
                    lambda model: model.neck.assign_temperature),
}


def _check_table4_row(model, cfg, row):
    with_latents, fuse, recon, aug = TABLE4[row]
    neck = model.neck
    latent_params = [n for n, _ in model.named_parameters()
                     if n.startswith('neck.')]
    assert bool(latent_params) == with_latents
    assert neck.with_latents == with_latents
    assert neck.fuse == fuse
    assert neck_losses_of(model) == (recon, aug)
    assert hasattr(neck, 'cls_lat') == aug
    width = neck.in_channels * (2 if fuse == 'concat' else 1)
    assert model.head.in_channels == width == neck.out_channels
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks == (['LatentAugScheduleHook'] if aug else [])


@pytest.mark.parametrize('rel_path', ABLATIONS)
def test_ablation_module_states(rel_path):
    cfg = load(rel_path)
    match = re.fullmatch(r'(resnet32_cifar(10|100)-lt-if100)_(.+)\.py',
                         Path(rel_path).name)
    assert match, f'unexpected ablation name {rel_path}'
    recipe, variant = f'lcreg/{match.group(1)}.py', match.group(3)
    model = build_model(cfg)
    if variant.startswith('m'):  # Table 3: number of latent categories
        num_latents = int(variant[1:])
        assert model.neck.num_latents == num_latents
        assert tuple(model.neck.latent_pool.shape) == (num_latents, 64)
        assert tuple(model.neck.cls_lat.weight.shape) == (num_latents, 64)
        assert neck_losses_of(model) == (True, True)
        assert num_latents != load(recipe).model.neck.num_latents
        assert config_diff(cfg, load(recipe)) == ['model.neck.num_latents']
    elif variant == 'class-isda':  # ISDA on classes, on top of MiSLAS
        mislas = load(f'mislas/{match.group(1)}.py')
        assert config_diff(cfg, mislas) == [
            'custom_hooks', 'model.head.loss.cov_type',
            'model.head.loss.lambda0', 'model.head.loss.type', 'model.head.loss.use_soft',
            'model.head.type']
        assert type(model.head).__name__ == 'ISDALinearClsHead'
        loss = model.head.loss_module
        assert (type(loss).__name__, loss.num_classes, loss.in_channels,
                loss.lambda0, loss.cov_type) == ('ClassISDALoss', 10, 64,
                                                 0.5, 'full')
        assert [h['type'] for h in cfg.custom_hooks] == [
            'LatentAugScheduleHook']
        assert not hasattr(model.neck, 'num_latents')
    elif variant in DESIGN_CHOICES:  # choices the paper leaves open
        key, value, attribute = DESIGN_CHOICES[variant]
        assert config_diff(cfg, load(recipe)) == [key]
        assert attribute(model) == value != attribute(build_model(
            load(recipe)))
        assert neck_losses_of(model) == (True, True)
    else:  # Table 4: components
        _check_table4_row(model, cfg, variant)
        diff = config_diff(cfg, load(recipe))
        assert diff and all(allowed(k, ('model.neck', 'model.head.in_channels',
                                        'custom_hooks')) for k in diff)


def test_table4_no_latent_row_is_mislas():
    """Baseline row: same parameters (names and shapes) as MiSLAS' model."""
    ablation = build_model(load(
        'lcreg/ablations/resnet32_cifar100-lt-if100_no-latent.py'))
    mislas = build_model(load('mislas/resnet32_cifar100-lt-if100.py'))
    shapes = lambda m: {n: tuple(p.shape)  # noqa: E731
                        for n, p in m.named_parameters()}
    assert shapes(ablation) == shapes(mislas)


# The large-scale ablations of configs/lcreg/README.md, as --cfg-options.
README_OVERRIDES = {
    'no-latent': {'model.neck.fuse': 'none', 'model.neck.recon_loss': None,
                  'model.neck.aug_loss': None, 'model.head.in_channels': 2048,
                  'custom_hooks': []},
    'latent': {'model.neck.recon_loss': None, 'model.neck.aug_loss': None,
               'custom_hooks': []},
    'latent-aug': {'model.neck.recon_loss': None},
    'latent-recon': {'model.neck.aug_loss': None, 'custom_hooks': []},
}


def test_readme_documents_the_large_scale_overrides():
    readme = (CONFIG_DIR / 'lcreg' / 'README.md').read_text()
    assert ('model.neck.fuse=none model.neck.recon_loss=None '
            'model.neck.aug_loss=None model.head.in_channels=2048 '
            'custom_hooks=[]') in readme
    assert 'model.neck.num_latents=' in readme


@pytest.mark.parametrize('row', sorted(README_OVERRIDES))
def test_readme_overrides_give_table4_rows(row):
    cfg = load('lcreg/resnet50_inat2018.py')
    merge_cfg_options(cfg, copy.deepcopy(README_OVERRIDES[row]))
    _check_table4_row(build_model(cfg), cfg, row)


def test_readme_overrides_set_num_latents():
    cfg = load('lcreg/resnet50_imagenet-lt.py')
    merge_cfg_options(cfg, {'model.neck.num_latents': 20})
    neck = MODELS.build(model_cfg(cfg)['neck'])
    assert tuple(neck.latent_pool.shape) == (20, 2048)


# ------------------------------------------------- decoupling baselines
@pytest.mark.parametrize('prefix', ['resnet32_cifar10-lt-if100',
                                    'resnet50_imagenet-lt'])
def test_crt_and_lws(prefix):
    crt = load(f'baselines/{prefix}_crt.py')
    lws = load(f'baselines/{prefix}_lws.py')
    s2 = crt.train_cfg.stage2
    # shift_bn: the decoupling code re-trains the classifier with every
    # network in train() mode (BN statistics re-estimated)
    assert (s2.reset_classifier, s2.train_classifier, s2.train_scale,
            s2.shift_bn, s2.loss, s2.lr_factor) == (True, True, False, True,
                                                    None, 1.0)
    assert s2.sampler.type == 'ClassAwareSampler'
    s2 = lws.train_cfg.stage2
    assert (s2.reset_classifier, s2.train_classifier, s2.train_scale,
            s2.shift_bn, s2.loss) == (False, False, True, True, None)
    # ImageNet-LT LWS: 5 epochs (decoupling's cls_lws.yaml), cRT 10; CIFAR
    # (no decoupling recipe) keeps 10 for both
    schedule = ([] if prefix.startswith('resnet32_cifar') else
                ['param_scheduler', 'stage2_epochs', 'train_cfg.max_epochs'])
    assert config_diff(crt, lws) == sorted(schedule + [
        'train_cfg.stage2.reset_classifier',
        'train_cfg.stage2.train_classifier', 'train_cfg.stage2.train_scale'])
    # stage 1 is plain cross-entropy: no mixup, hard-label CE
    assert 'train_cfg' not in crt.model
    assert crt.model.head.type == 'ScaledLinearClsHead'
    assert crt.model.head.loss == dict(type='CrossEntropyLoss',
                                       loss_weight=1.0)


def test_cifar_crt_stage1_is_the_ce_baseline():
    crt = load('baselines/resnet32_cifar10-lt-if100_crt.py')
    ce = load('baselines/resnet32_cifar10-lt-if100_ce.py')
    model_diff = [k for k in config_diff(crt, ce) if k.startswith('model.')]
    assert model_diff == ['model.head.type']
    # the optimizer of the CE baseline: MiSLAS' plain momentum SGD
    assert crt.optim_wrapper.optimizer == ce.optim_wrapper.optimizer
    assert ce.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4)
    assert crt.train_dataloader == ce.train_dataloader


def test_imagenet_crt_schedule():
    crt = load('baselines/resnet50_imagenet-lt_crt.py')
    assert (crt.train_cfg.stage1_epochs, crt.train_cfg.max_epochs) == (90,
                                                                       100)
    assert [(s.begin, s.end) for s in crt.param_scheduler] == [(0, 90),
                                                               (90, 100)]
    # Kang et al.: lr 0.2 for batch 512, scaled to batch 256 = 8 GPUs × 32
    assert crt.optim_wrapper.optimizer.lr == 0.1
    assert crt.train_dataloader.batch_size == 32
    assert crt.auto_scale_lr == dict(enable=False, base_batch_size=256)


@pytest.mark.parametrize('rel_path', LARGE_SCALE)
def test_large_scale_batch_is_32_per_gpu(rel_path):
    """Every ImageNet-LT / iNaturalist / Places-LT config (LCReg, MiSLAS,
    baselines, the ResNeXt swap): `tools/dist_train.sh CONFIG 8` trains the
    recipe, 8 × 32 = 256, the total batch the lrs are for; the header
    comment says so."""
    cfg = load(rel_path)
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.auto_scale_lr.enable is False
    header = (CONFIG_DIR / rel_path).read_text().split('_base_ =')[0]
    assert 'Batch 32 per GPU: `tools/dist_train.sh <this config> 8`' in \
        header
    assert 'total batch of 256' in header and '--auto-scale-lr' in header


def test_imagenet_lws_runs_5_stage2_epochs():
    """decoupling's config/ImageNet_LT/cls_lws.yaml: num_epochs 5 (cRT 10),
    cosine to 0 over those 5."""
    lws = load('baselines/resnet50_imagenet-lt_lws.py')
    assert (lws.train_cfg.stage1_epochs, lws.train_cfg.max_epochs) == (90,
                                                                       95)
    assert [(s.type, s.begin, s.end, s.eta_min)
            for s in lws.param_scheduler] == [
        ('CosineAnnealingLR', 0, 90, 0.0), ('CosineAnnealingLR', 90, 95, 0.0)]


class _StageSnapshots(Hook):
    """The model's state dict at the end of every epoch."""

    def __init__(self):
        self.states = {}

    def after_train_epoch(self, runner):
        self.states[runner.epoch] = {
            k: v.detach().clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.parametrize('rel_path', [
    'baselines/resnet32_cifar10-lt-if100_crt.py',
    'baselines/resnet32_cifar10-lt-if100_lws.py'])
def test_crt_and_lws_reestimate_bn_statistics_only(rel_path, tmp_path):
    """The built cRT / LWS recipe through the real Runner, on tiny Digits-LT
    (1 + 1 epochs): in stage 2 every BN layer of the representation
    re-estimates its running statistics on the class-balanced stream (the
    decoupling code's train() mode), while every BN affine parameter and
    every conv weight stays what stage 1 left."""
    cfg = load(rel_path)
    tiny = Config.fromfile(str(REPO / 'tests' / 'fixtures' /
                               'tiny_digits_lt.py'))
    cfg.data_preprocessor = tiny.data_preprocessor
    cfg.train_dataloader = tiny.train_dataloader
    cfg.train_cfg.update(max_epochs=2, stage1_epochs=1, val_interval=100)
    cfg.param_scheduler = [
        dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1),
        dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=2,
             eta_min=0.0)]
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    snapshots = _StageSnapshots()
    runner.register_hook(snapshots, priority='LOWEST')
    runner.train()
    stage1, stage2 = snapshots.states[0], snapshots.states[1]

    bn_layers = [n for n, m in runner.model.named_modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    convs = [n for n, m in runner.model.named_modules()
             if isinstance(m, nn.Conv2d)]
    assert bn_layers and convs
    for name in bn_layers:
        for stat in ('running_mean', 'running_var'):
            key = f'{name}.{stat}'
            assert not torch.equal(stage1[key], stage2[key]), key
        for affine in ('weight', 'bias'):
            key = f'{name}.{affine}'
            assert torch.equal(stage1[key], stage2[key]), key
    for name in convs:
        key = f'{name}.weight'
        assert torch.equal(stage1[key], stage2[key]), key
    # and stage 2 did train the head: cRT its classifier, LWS its scale
    trained = 'head.scale' if rel_path.endswith('_lws.py') else \
        'head.fc.weight'
    assert not torch.equal(stage1[trained], stage2[trained])


# ------------------------------------------- large-scale init as MiSLAS
@pytest.mark.parametrize('rel_path', [
    'mislas/resnet50_imagenet-lt.py', 'lcreg/resnet50_imagenet-lt.py',
    'lcreg/resnext50_imagenet-lt.py', 'mislas/resnet50_inat2018.py'])
def test_large_scale_init_is_mislas(rel_path):
    """MiSLAS' ResNet-50: no zero-init of the residual branches' last BN,
    Kaiming-normal (fan_out) convolutions, PyTorch's nn.Linear classifier
    (weights and bias U(±1/√fan_in)), not MMPretrain's Normal(0, 0.01)."""
    cfg = load(rel_path)
    assert cfg.model.backbone.zero_init_residual is False
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    last_bns = [m.norm3 for m in model.backbone.modules()
                if hasattr(m, 'norm3')]
    assert len(last_bns) == 16
    assert all(torch.all(bn.weight == 1) for bn in last_bns)
    conv = model.backbone.layer1[0].conv2.weight  # 3×3
    fan_out = conv.shape[0] * conv.shape[2] * conv.shape[3]
    assert conv.std().item() == pytest.approx((2 / fan_out)**0.5, rel=0.05)
    fc = model.head.fc
    bound = 1 / fc.in_features**0.5
    assert fc.weight.abs().max().item() <= bound
    assert fc.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.02)
    assert fc.bias.abs().max().item() <= bound
    assert fc.bias.abs().mean().item() == pytest.approx(bound / 2, rel=0.1)


@pytest.mark.parametrize('rel_path', [
    c for c in CONFIGS if ('cifar100-lt' in c or 'cifar10-lt' in c)
    and 'resnet32' in c])
def test_cifar_classifier_init_is_the_sources(rel_path):
    """LDAM-DRW's and MiSLAS' resnet_cifar.py draw the linear classifier with
    ``kaiming_normal_`` (fan-in, gain sqrt(2)): std sqrt(2 / in_features),
    not MMPretrain's Normal(0, 0.01). The bias starts at 0 here. LDAM-DRW's
    normalised head keeps its own init."""
    torch.manual_seed(0)
    cfg = load(rel_path)
    model = build_model(cfg)
    model.init_weights()
    fc = model.head.fc
    if cfg.model.head.type == 'NormedLinearClsHead':
        # LDAM-DRW's NormedLinear: rows of U(-1, 1) scaled to unit norm,
        # no bias; the plain classifier's Kaiming init must not reach it
        assert fc.bias is None
        torch.testing.assert_close(fc.weight.norm(dim=1),
                                   torch.ones(fc.out_features))
        return
    assert fc.weight.std().item() == pytest.approx(
        (2 / fc.in_features)**0.5, rel=0.1)
    assert torch.all(fc.bias == 0)


@pytest.mark.parametrize('rel_path', [
    c for c in CONFIGS if 'cifar100-lt' in c or 'cifar10-lt' in c])
def test_cifar_normalisation_is_the_sources(rel_path):
    """LDAM-DRW and MiSLAS normalise CIFAR-10 and CIFAR-100 alike, with
    (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010)."""
    pre = load(rel_path).data_preprocessor
    assert pre.mean == pytest.approx([0.4914 * 255, 0.4822 * 255,
                                      0.4465 * 255], abs=0.01)
    assert pre.std == pytest.approx([0.2023 * 255, 0.1994 * 255,
                                     0.2010 * 255], abs=0.01)


@pytest.mark.parametrize('method', ['mislas', 'lcreg'])
def test_weight_decay_variant_differs_only_in_weight_decay(method):
    """MiSLAS' README recommends 5e-4 for CIFAR-LT; its configs use 2e-4."""
    recipe = load(f'{method}/resnet32_cifar10-lt-if100.py')
    variant = load(f'{method}/resnet32_cifar10-lt-if100_wd5e-4.py')
    assert config_diff(recipe, variant) == [
        'optim_wrapper.optimizer.weight_decay']
    assert (recipe.optim_wrapper.optimizer.weight_decay,
            variant.optim_wrapper.optimizer.weight_decay) == (2e-4, 5e-4)
