"""Load a config + checkpoint and feed images to it, for the analysis tools.

The MMPretrain way: an MMEngine ``Config`` (with the toolbox's checked
``--cfg-options``), the model built by ``mmpretrain.apis.init_model`` in the
``mmpretrain`` scope, weights loaded by ``mmengine.runner.load_checkpoint``
(which goes through the toolbox's allow-list loader,
:mod:`lcreg.engine.runner.safe_checkpoint`), images through the config's
test pipeline and the model's data preprocessor.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config

from lcreg.utils import merge_cfg_options

SPLITS = ('val', 'test')


def default_device() -> str:
    """``'cuda'`` when a GPU is visible, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def check_device(device: str) -> str:
    """Refuse a CUDA device on a machine without one (clear message)."""
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'--device {device}: no CUDA GPU is visible '
                           '(torch.cuda.is_available() is False); use '
                           '--device cpu.')
    return device


def require_file(path: str, what: str) -> str:
    """``path`` if it is a file, else FileNotFoundError naming ``what``
    (the argument, e.g. ``'--image'``) and the path."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist.')
    return path


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` + checked ``--cfg-options``; sets the default
    scope (``mmpretrain``) so that registries resolve our modules."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(require_file(path, 'config file'))
    merge_cfg_options(cfg, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def load_model(cfg: Config, checkpoint: str, device: str) -> torch.nn.Module:
    """The config's model with the checkpoint's weights, in eval mode."""
    from mmpretrain.apis import init_model

    from lcreg.engine.runner.checkpoint_fit import check_checkpoint_fits
    model = init_model(cfg, require_file(checkpoint, 'checkpoint'),
                       device=check_device(device))
    # init_model loads non-strictly: refuse a checkpoint of another recipe
    check_checkpoint_fits(model, checkpoint, cfg.filename)
    return model


def latent_neck(model: torch.nn.Module):
    """The model's :class:`LatentCategoryNeck` (with latent categories)."""
    from lcreg.models.necks.latent_category_neck import LatentCategoryNeck
    neck = getattr(model, 'neck', None)
    if not isinstance(neck, LatentCategoryNeck):
        raise ValueError(
            'the model has no LatentCategoryNeck (neck: '
            f'{type(neck).__name__}); use an LCReg config (configs/lcreg/).')
    if not neck.with_latents:
        raise ValueError("the model's LatentCategoryNeck has fuse='none' and "
                         'no losses, so it has no latent categories.')
    return neck


def preprocessor_flips_channels(model: torch.nn.Module) -> bool:
    """Whether the data preprocessor turns BGR pipeline output into RGB."""
    prep = model.data_preprocessor
    return bool(getattr(prep, 'to_rgb', False)
                or getattr(prep, '_channel_conversion', False))


def test_pipeline_cfg(cfg: Config) -> List[dict]:
    """The pipeline of ``test_dataloader.dataset`` (else ``test_pipeline``)."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    pipeline = dataset.get('pipeline', cfg.get('test_pipeline'))
    if pipeline is None:
        raise KeyError(f'{cfg.filename}: no test_dataloader.dataset.pipeline '
                       'or test_pipeline to run the images through.')
    return copy.deepcopy(list(pipeline))


def load_image(path: str, cfg: Config, flips_channels: bool) -> dict:
    """An image file through the config's test pipeline, as a batch of one.

    If the pipeline starts with a ``LoadImage*`` transform, the file goes
    through it (the way the dataset reads its images). Otherwise (datasets
    held in memory, e.g. CIFAR) the file is read here in the channel order
    the data preprocessor expects: BGR when it converts to RGB, else RGB.

    Returns:
        ``dict(inputs=[C×H×W uint8 tensor], data_samples=[DataSample])``.
    """
    import mmcv
    from mmengine.dataset import Compose, pseudo_collate
    require_file(path, 'image')
    pipeline = test_pipeline_cfg(cfg)
    if pipeline and str(pipeline[0].get('type', '')).startswith('LoadImage'):
        results = dict(img_path=path)
    else:
        img = mmcv.imread(path, channel_order='bgr' if flips_channels
                          else 'rgb')
        if img is None:
            raise ValueError(f'image {path} could not be decoded.')
        results = dict(img=img, img_shape=img.shape[:2],
                       ori_shape=img.shape[:2])
    return pseudo_collate([Compose(pipeline)(results)])


def build_split_dataset(cfg: Config, split: str):
    """The dataset of ``<split>_dataloader`` (with its pipeline)."""
    from mmpretrain.registry import DATASETS
    if split not in SPLITS:
        raise ValueError(f'split {split!r}: use one of {SPLITS}.')
    loader = cfg.get(f'{split}_dataloader')
    if not isinstance(loader, dict) or 'dataset' not in loader:
        raise KeyError(f'{cfg.filename} has no {split}_dataloader.dataset; '
                       'choose another --dataset-split.')
    return DATASETS.build(copy.deepcopy(loader['dataset']))


def evenly_spaced(length: int, max_items: Optional[int]) -> np.ndarray:
    """``max_items`` indices spread evenly over ``range(length)`` (all of
    them when ``max_items`` is None or >= length); class-sorted lists keep
    every class this way."""
    if max_items is None or max_items >= length:
        return np.arange(length)
    if max_items < 1:
        raise ValueError(f'max_items={max_items} must be >= 1.')
    return np.unique(np.linspace(0, length - 1, max_items).round()
                     .astype(np.int64))


def batches(dataset, indices: Sequence[int], batch_size: int,
            num_workers: int = 0):
    """A plain DataLoader over ``dataset[indices]`` (MMEngine's
    ``pseudo_collate``, no shuffling)."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader, Subset
    return DataLoader(Subset(dataset, [int(i) for i in indices]),
                      batch_size=batch_size, shuffle=False,
                      num_workers=num_workers, collate_fn=pseudo_collate)


def labels_of(data_samples) -> np.ndarray:
    """Ground-truth labels (B,) of a batch; -1 where a sample has none."""
    labels = []
    for sample in data_samples:
        gt = sample.get('gt_label') if hasattr(sample, 'get') else None
        labels.append(-1 if gt is None else int(torch.as_tensor(gt)
                                                .reshape(-1)[0]))
    return np.asarray(labels, dtype=np.int64)


@torch.no_grad()
def latents_of_batch(model, batch: dict) -> Dict[str, object]:
    """Eq. 1–2 tensors of a batch through preprocessor, backbone and neck.

    Returns:
        dict with ``similarity`` S and ``assignment`` A (B×N×M float32
        numpy), ``hw`` (H, W) of the feature map (N = H·W, row-major) and
        ``labels`` (B,) (-1 when unlabelled).
    """
    neck = latent_neck(model)
    data = model.data_preprocessor(batch, False)
    feats = model.backbone(data['inputs'])
    out = neck.extract_latents(feats, need_recon=False,
                               need_latent_feats=False)
    height, width = feats[-1].shape[-2:]
    return dict(similarity=out['similarity'].cpu().numpy(),
                assignment=out['assignment'].cpu().numpy(),
                hw=(int(height), int(width)),
                labels=labels_of(data['data_samples']))


@torch.no_grad()
def predictions_of_batch(model, batch: dict) -> Tuple[np.ndarray, np.ndarray]:
    """``(scores (B, C), labels (B,))``: the class probabilities the model's
    ``test_step`` gives (what the metric evaluates) and the labels."""
    outputs = model.test_step(batch)
    scores = torch.stack([o.pred_score.float().cpu() for o in outputs])
    return scores.numpy(), labels_of(outputs)


def display_image(inputs: torch.Tensor, flips_channels: bool) -> np.ndarray:
    """H×W×3 uint8 RGB picture of a pipeline output (C×H×W)."""
    img = inputs.detach().cpu()
    if flips_channels and img.shape[0] == 3:
        img = img.flip(0)
    img = img.permute(1, 2, 0).numpy()
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.clip(img, 0, 255).astype(np.uint8)


def long_tail_evaluator(cfg: Config) -> Tuple[Optional[dict], str]:
    """The ``LongTailMetric`` config of ``test_evaluator`` (else
    ``val_evaluator``) and its key, or ``(None, '')``."""
    for key in ('test_evaluator', 'val_evaluator'):
        evaluators = cfg.get(key)
        for ev in (evaluators if isinstance(evaluators, (list, tuple))
                   else [evaluators]):
            if isinstance(ev, dict) and ev.get('type') == 'LongTailMetric':
                return ev, key
    return None, ''


def class_counts_from_config(cfg: Config) -> Tuple[Optional[List[int]], str]:
    """Training images per class as the config's metric sees them.

    Reads the ``LongTailMetric`` of ``test_evaluator`` / ``val_evaluator``
    (its ``class_counts`` or ``train_dataset``), else
    ``train_dataloader.dataset``.

    Returns:
        ``(counts, source)``, or ``(None, reason)`` when the config has
        neither.
    """
    from lcreg.evaluation.long_tail_metric import \
        class_counts_from_dataset_cfg
    ev, key = long_tail_evaluator(cfg)
    if ev is not None and ev.get('class_counts') is not None:
        return [int(c) for c in ev['class_counts']], f'{key}.class_counts'
    if ev is not None and ev.get('train_dataset') is not None:
        return class_counts_from_dataset_cfg(
            ev['train_dataset']), f'{key}.train_dataset'
    train = (cfg.get('train_dataloader') or {}).get('dataset')
    if train is not None:
        return class_counts_from_dataset_cfg(train), \
            'train_dataloader.dataset'
    return None, (f'{cfg.filename} has no LongTailMetric and no '
                  'train_dataloader.dataset')


def long_tail_groups(cfg: Config,
                     class_counts: Sequence[int]) -> Dict[str, np.ndarray]:
    """Many / medium / few masks (C,) of the classes, with the split
    settings of the config's ``LongTailMetric`` (its defaults otherwise)."""
    from lcreg.evaluation.long_tail_metric import LongTailMetric
    ev, _ = long_tail_evaluator(cfg)
    settings = {k: v for k, v in (ev or {}).items()
                if k in ('split_mode', 'many_threshold', 'few_threshold',
                         'rank_boundaries')}
    metric = LongTailMetric(class_counts=list(class_counts), **settings)
    return metric._groups(np.asarray(class_counts, dtype=np.int64),
                          metric.split_mode)
