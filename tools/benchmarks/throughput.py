"""Training throughput and peak memory: plain model, LCReg, plain PyTorch.

Measures, warm and in one process, training images/s and peak memory of

(a) ``plain``  the config's model with the neck replaced by global average
    pooling (head ``in_channels`` set to the backbone's channels, no neck
    losses), through MMEngine's ``model.train_step`` + optimizer wrapper;
(b) ``lcreg``  the config's model (LCReg neck and losses), same path;
(c) ``torch``  the same modules as (b) in a hand-written PyTorch loop:
    normalisation, mixup (if the config has it), backbone, ``neck.loss``,
    head, ``F.cross_entropy`` (soft targets) + the neck losses, plain SGD
    (lr, momentum, weight decay of the config); no MMEngine;
(d) ``neck``   the LCReg neck and its losses alone, forward and backward on
    one fixed backbone feature map: the neck's own compute;
(e) ``fp32``   with ``--amp`` or ``--channels-last`` only: (a) in float32
    and the NCHW memory format, the reference of the speed-up;

and prints a table with the neck overhead ((a) → (b)), the toolbox
overhead ((c) → (b)), the neck's share ((d) / (a)) and the speed-up of the
precision / memory format ((e) → (a)).

``--amp``: float16 autocast (+ loss scaling) on a GPU, bfloat16 autocast on
a CPU with AVX512-BF16 / AMX-BF16 (what ``tools/train.py --amp`` trains
with; refused on a CPU without them).

How: all variants are built and warmed up in one process, then
``--repeat`` rounds time ``--iters`` steps of each variant in turn. On a
shared machine the load changes from second to second; interleaving makes
every round of (a) and (b) see about the same load, and the overheads are
the medians over rounds of the paired time ratios (use many short rounds,
e.g. ``--iters 3 --repeat 15``, on a busy CPU).

What is timed: one training step on a synthetic batch of the config's input
size and batch size, built before timing in the form the dataloader hands to
``train_step`` (``--collate pseudo``: a list of C×H×W uint8 CPU tensors, as
MMEngine's default ``pseudo_collate``; ``default``: one stacked tensor, as
``collate_fn=dict(type='default_collate')``), with fresh ``DataSample``
labels per step. Data loading and decoding are not timed; hooks are not
run (they act once per iteration outside the step: logging, timers). The λ
of the latent ISDA loss is set to its mid-stage value, so the augmentation
term is computed.

Peak memory, in a separate pass before the timing with each variant built
alone: on a GPU ``torch.cuda.max_memory_allocated`` over the warm-up and two
more steps; on the CPU, over two steps (after one unmeasured pass
that pays the process's one-time costs), the growth of the peak
resident set size (VmHWM of /proc/self/status, reset through
/proc/self/clear_refs) while glibc mmaps every block over 64 KiB, so that
freed memory is returned and the peak is that of live memory whatever
earlier measurements left in the allocator (see ``PeakMemory``); the timing
then runs with heap reuse, as a normal training process does.

Example::

    python tools/benchmarks/throughput.py \\
        configs/lcreg/resnet32_cifar10-lt-if100.py --device cuda --amp \\
        --iters 50 --warmup 30 --repeat 4
    python tools/benchmarks/throughput.py \\
        configs/lcreg/resnet32_cifar10-lt-if100.py --device cpu --threads 2 \\
        --iters 3 --warmup 3 --repeat 15
"""
import argparse
import copy
import gc
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))  # run from a checkout without installing

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.analysis import model_io  # noqa: E402
from lcreg.engine.optimizers import (check_cpu_bf16,  # noqa: E402
                                     mixed_precision_optim_wrapper)
from lcreg.utils.cli import run_cli  # noqa: E402

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # peak_memory.py
from peak_memory import (MMAP_LARGE, MMAP_SMALL, PeakMemory,  # noqa: E402
                         set_mmap_threshold)

VARIANTS = ('plain', 'lcreg', 'torch', 'neck', 'fp32')
DESCRIPTIONS = dict(
    plain='(a) backbone + GAP + head, MMEngine train_step',
    lcreg='(b) LCReg neck + losses, MMEngine train_step',
    torch='(c) same model as (b), plain PyTorch loop',
    neck='(d) neck + its losses alone (fixed feature map)',
    fp32='(e) (a) in float32, NCHW (reference)')
ISDA_PROGRESS = 0.5  # λ = λ0 / 2 while timing


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Training images/s and peak memory of a config: plain '
        'backbone+head, LCReg, and a plain PyTorch loop of the LCReg model.')
    parser.add_argument('config', help='LCReg config file')
    parser.add_argument('--iters', type=int, default=50,
                        help='timed iterations per round and variant '
                        '(default 50)')
    parser.add_argument('--warmup', type=int, default=10,
                        help='untimed iterations first (default 10)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help="default: the config's train batch size")
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="default: the crop size of the config's train "
                        'pipeline')
    parser.add_argument('--device', choices=('cpu', 'cuda'),
                        default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='default: %(default)s')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision as tools/train.py --amp: '
                        'float16 + loss scaling on cuda, bfloat16 on a CPU '
                        'with AVX512-BF16 / AMX')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last memory format for models and '
                        'inputs')
    parser.add_argument('--collate', choices=('pseudo', 'default'),
                        default='pseudo',
                        help='batch form given to train_step (default: '
                        "pseudo, MMEngine's default)")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (CPU)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='interleaved rounds (default 1); the table '
                        'gives the median, min and max over rounds')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS,
                        help='what to measure (default: all; fp32 only '
                        'with --amp or --channels-last)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (unknown keys are '
                        'refused; prefix a key with + to add it)')
    args = parser.parse_args(argv)
    if args.amp and args.device == 'cpu':
        check_cpu_bf16()
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA GPU is visible')
    for name in ('iters', 'repeat'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.batch_size is not None and args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


# ----------------------------------------------------------------- config
def input_size_from_pipeline(pipeline) -> tuple:
    """(H, W) of the last crop / resize of a training pipeline.

    Reads ``crop_size`` (RandomCrop, CenterCrop) or ``scale``
    (RandomResizedCrop, Resize); an int means a square, a pair is (W, H) as
    MMPretrain writes it.

    Raises:
        ValueError: no such transform (pass --input-size).
    """
    for transform in reversed(list(pipeline or [])):
        for key in ('crop_size', 'scale'):
            size = transform.get(key)
            if isinstance(size, int):
                return size, size
            if isinstance(size, (list, tuple)) and len(size) == 2 and all(
                    isinstance(s, int) for s in size):
                return size[1], size[0]
    raise ValueError('the train pipeline has no crop / resize giving the '
                     'input size; pass --input-size H W.')


def train_pipeline(cfg) -> list:
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']  # dataset wrappers (LongTailed, ...)
    return dataset.get('pipeline', [])


def lcreg_neck_cfg(model_cfg) -> dict:
    neck = model_cfg.get('neck') or {}
    if neck.get('type') != 'LatentCategoryNeck':
        raise ValueError(f"the config's neck is {neck.get('type')!r}, not "
                         'LatentCategoryNeck: use an LCReg config.')
    return neck


def plain_model_cfg(model_cfg) -> dict:
    """Variant (a): the neck replaced by GAP, the head fed the backbone's
    ``in_channels`` of the LCReg neck, no neck losses."""
    cfg = copy.deepcopy(model_cfg)
    neck = lcreg_neck_cfg(cfg)
    if cfg.get('type') == 'LatentCategoryClassifier':
        cfg['type'] = 'ImageClassifier'
        cfg.pop('neck_losses', None)
    cfg['neck'] = dict(type='GlobalAveragePooling')
    cfg['head'] = dict(cfg['head'], in_channels=neck['in_channels'])
    return cfg


def build_model(model_cfg, data_preprocessor, device, channels_last):
    from mmpretrain.registry import MODELS
    cfg = copy.deepcopy(model_cfg)
    cfg.setdefault('data_preprocessor', copy.deepcopy(data_preprocessor))
    model = MODELS.build(cfg).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    from lcreg.models.losses.latent_isda_loss import LatentISDALoss
    for module in model.modules():
        if isinstance(module, LatentISDALoss):
            module.set_progress(ISDA_PROGRESS)
    return model


# ------------------------------------------------------------------- data
def synthetic_inputs(batch_size, size, channels_last, collate, seed):
    """The images of one batch, uint8, on the CPU as a dataloader gives
    them: a list of C×H×W tensors (pseudo) or one B×C×H×W tensor."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 3, *size), generator=gen,
                           dtype=torch.uint8)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images if collate == 'default' else list(images.unbind(0))


def label_batches(count, batch_size, num_classes, seed):
    """``count`` lists of fresh DataSamples with random labels (a
    dataloader makes new ones every batch; mixup writes gt_score into
    them)."""
    from mmpretrain.structures import DataSample
    rng = np.random.RandomState(seed)
    return [[DataSample().set_gt_label(int(y))
             for y in rng.randint(num_classes, size=batch_size)]
            for _ in range(count)]


# ----------------------------------------------------------------- memory
MEMORY_STEPS = 2  # CPU: training steps of the separate memory pass


def amp_dtype(device: str) -> torch.dtype:
    """The autocast dtype of ``--amp``: float16 on a GPU, bfloat16 on a
    CPU (as ``tools/train.py --amp``)."""
    return torch.float16 if device == 'cuda' else torch.bfloat16


def variant_args(variant, args):
    """``args`` of one variant: the reference (e) is float32 NCHW."""
    if variant != 'fp32':
        return args
    args = copy.copy(args)
    args.amp = args.channels_last = False
    return args


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


# ---------------------------------------------------------- the 4 steps
def mmengine_step(model, cfg, args, inputs, num_classes, count):
    """``step(i)``: ``model.train_step`` on batch i (variants a, b)."""
    from mmengine.optim import build_optim_wrapper
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if args.amp:
        optim_cfg = mixed_precision_optim_wrapper(optim_cfg, args.device)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    labels = label_batches(count, args.batch_size_resolved, num_classes,
                           args.seed)
    return lambda i: model.train_step(
        dict(inputs=inputs, data_samples=labels[i]), optim_wrapper)


def mixup_alpha(model_cfg):
    """α of the model's Mixup batch augment, or None without mixup."""
    augments = (model_cfg.get('train_cfg') or {}).get('augments')
    if augments is None:
        return None
    augments = augments if isinstance(augments, (list, tuple)) \
        else [augments]
    if len(augments) != 1 or augments[0].get('type') != 'Mixup':
        raise ValueError(f'the plain loop reproduces a single Mixup batch '
                         f'augment only, got {augments}')
    return float(augments[0]['alpha'])


def plain_training_step(model, cfg, device='cpu', amp=False,
                        channels_last=False):
    """Variant (c): a hand-written training step over ``model``'s modules.

    Normalisation (``data_preprocessor`` mean / std / to_rgb), mixup as
    MMPretrain draws it (λ ~ Beta(α, α) from numpy's global generator, the
    permutation from ``torch.randperm`` on the CPU), backbone,
    ``neck.loss`` (fused feature + weighted neck losses), head logits,
    ``γ·F.cross_entropy`` on the soft targets plus the neck losses, SGD
    with the config's lr, momentum and weight decay. No MMEngine.

    Returns:
        ``step(images, labels) -> loss`` (detached); ``images`` a list of
        C×H×W uint8 tensors or one B×C×H×W tensor, ``labels`` (B,) int64.
    """
    prep = cfg.data_preprocessor
    mean = torch.tensor(prep['mean'], device=device).view(1, -1, 1, 1)
    std = torch.tensor(prep['std'], device=device).view(1, -1, 1, 1)
    to_rgb = bool(prep.get('to_rgb', False))
    alpha = mixup_alpha(cfg.model)
    num_classes = int(model.head.num_classes)
    cls_weight = float(cfg.model.head.get('loss', {}).get('loss_weight', 1.0))
    opt = cfg.optim_wrapper.optimizer
    if opt.get('type') != 'SGD':
        raise ValueError(f"the plain loop uses SGD; the config's optimizer "
                         f"is {opt.get('type')!r}")
    backbone, neck, head = model.backbone, model.neck, model.head
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=opt['lr'],
        momentum=opt.get('momentum', 0), weight_decay=opt.get(
            'weight_decay', 0), nesterov=opt.get('nesterov', False))
    scaler = torch.amp.GradScaler('cuda', enabled=amp and device == 'cuda')
    memory_format = torch.channels_last if channels_last \
        else torch.contiguous_format

    def step(images, labels):
        x = images if isinstance(images, torch.Tensor) \
            else torch.stack(images)
        x = x.to(device, non_blocking=True)
        if to_rgb:
            x = x.flip(1)
        x = ((x.float() - mean) / std).contiguous(memory_format=memory_format)
        target = F.one_hot(labels.to(device), num_classes).float()
        if alpha is not None:
            lam = float(np.random.beta(alpha, alpha))
            perm = torch.randperm(x.size(0)).to(device)
            x = lam * x + (1 - lam) * x[perm]
            target = lam * target + (1 - lam) * target[perm]
        with torch.autocast(device_type=device, dtype=amp_dtype(device),
                            enabled=amp):
            feats, neck_losses = neck.loss(backbone(x))
            logits = head(feats)
        loss = cls_weight * F.cross_entropy(logits.float(), target)
        loss = loss + sum(v.float() for v in neck_losses.values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()

    return step


def torch_step(model, cfg, args, inputs, num_classes, count):
    """``step(i)``: the hand-written loop on batch i (variant c)."""
    step = plain_training_step(model, cfg, args.device, args.amp,
                               args.channels_last)
    rng = np.random.RandomState(args.seed)
    labels = [torch.from_numpy(rng.randint(num_classes,
                                           size=args.batch_size_resolved))
              for _ in range(count)]
    return lambda i: step(inputs, labels[i])


def neck_step(model, cfg, args, inputs):
    """``step(i)``: the LCReg neck and its losses alone (variant d).

    Forward and backward of ``neck.loss`` on one fixed backbone feature map
    of the batch (computed once, a leaf that requires grad, so the gradient
    to the backbone is computed as in training); the fused feature enters
    the loss through its mean. Measures the neck's own compute, free of the
    backbone's run-to-run noise.
    """
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs), False)
        feats = tuple(f.detach().requires_grad_(True)
                      for f in model.backbone(data['inputs']))
    neck = model.neck

    def step(i):
        with torch.autocast(device_type=args.device,
                            dtype=amp_dtype(args.device), enabled=args.amp):
            (fused, ), losses = neck.loss(feats)
        loss = fused.float().mean() + sum(v.float() for v in losses.values())
        neck.zero_grad(set_to_none=True)
        feats[-1].grad = None
        loss.backward()
        return loss.detach()

    return step


def build_step(variant, cfg, args, inputs, count):
    """A fresh model of ``variant`` and its ``step(i)``, ``i < count``."""
    model_cfg = plain_model_cfg(cfg.model) if variant in ('plain', 'fp32') \
        else cfg.model
    if variant == 'fp32':  # the reference: float32, NCHW inputs too
        args = variant_args(variant, args)
        inputs = [x.contiguous() for x in inputs] if isinstance(
            inputs, list) else inputs.contiguous()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # mixup's λ in MMPretrain
    model = build_model(model_cfg, cfg.get('data_preprocessor'), args.device,
                        args.channels_last)
    num_classes = int(model.head.num_classes)
    if variant == 'neck':
        return model, neck_step(model, cfg, args, inputs)
    make = torch_step if variant == 'torch' else mmengine_step
    return model, make(model, cfg, args, inputs, num_classes, count)


def run_steps(step, first, count, device) -> float:
    """Seconds of ``step(first)`` … ``step(first + count - 1)``."""
    _sync(device)
    start = time.perf_counter()
    for i in range(first, first + count):
        step(i)
    _sync(device)
    return time.perf_counter() - start


def peak_memory(variant, cfg, args, inputs, steps) -> float:
    """Peak MiB of ``steps`` training steps of a variant built alone."""
    model, step = build_step(variant, cfg, args, inputs, steps)
    try:
        memory = PeakMemory(args.device)
        memory.start()
        run_steps(step, 0, steps, args.device)
        return memory.peak_mib()
    finally:
        del model, step
        gc.collect()
        if args.device == 'cuda':
            torch.cuda.empty_cache()


def interleaved_timing(variants, cfg, args, inputs) -> dict:
    """Seconds per round of ``--iters`` steps, for every variant.

    All variants are built first and warmed up; then ``--repeat`` rounds
    run ``--iters`` steps of each variant in turn (the order rotates every
    round), so a slow spell of a shared machine falls on all of them alike
    and round r of one variant can be compared with round r of another.
    """
    count = args.warmup + args.iters * args.repeat
    built = {v: build_step(v, cfg, args, inputs, count) for v in variants}
    for _, step in built.values():
        run_steps(step, 0, args.warmup, args.device)
    seconds = {v: [] for v in variants}
    for r in range(args.repeat):
        first = args.warmup + r * args.iters
        shift = r % len(variants)
        for v in variants[shift:] + variants[:shift]:
            seconds[v].append(run_steps(built[v][1], first, args.iters,
                                        args.device))
    return seconds


# ----------------------------------------------------------------- report
def overhead(slow: float, fast: float) -> float:
    """Extra time per image of ``slow`` over ``fast`` in %, from images/s."""
    return 100.0 * (fast / slow - 1.0)


def paired_overhead(seconds_slow, seconds_fast) -> float:
    """Median over rounds of the extra time of ``slow`` over ``fast`` in %
    (rounds are interleaved, so each pair saw the same machine load)."""
    return 100.0 * (statistics.median(
        s / f for s, f in zip(seconds_slow, seconds_fast)) - 1.0)


def format_report(seconds, peaks, images_per_round, memory_label) -> str:
    """Table of images/s (median, min, max over rounds) and peak memory,
    then the paired overheads."""
    lines = [f'{"variant":<58} {"images/s":>9} {"min":>8} {"max":>8}  '
             f'{memory_label}']
    for variant, rounds in seconds.items():
        speeds = [images_per_round / s for s in rounds]
        lines.append(f'{DESCRIPTIONS[variant]:<58} '
                     f'{statistics.median(speeds):>9.1f} {min(speeds):>8.1f} '
                     f'{max(speeds):>8.1f}  {peaks[variant]:.1f}')
    pairs = (('neck overhead (b vs a)', 'lcreg', 'plain'),
             ('toolbox overhead (b vs c)', 'lcreg', 'torch'),
             ('neck alone vs plain step (d / a)', 'neck', 'plain'),
             ('speed-up of the precision / memory format (a vs e)', 'fp32',
              'plain'))
    for label, slow, fast in pairs:
        if slow not in seconds or fast not in seconds:
            continue
        if slow == 'fp32':
            ratio = statistics.median(
                e / a for e, a in zip(seconds[slow], seconds[fast]))
            lines.append(f'{label}: x{ratio:.2f} images/s (median of '
                         'paired rounds)')
        elif slow == 'neck':
            share = 100.0 * statistics.median(
                n / p for n, p in zip(seconds[slow], seconds[fast]))
            lines.append(f'{label}: {share:.1f}% of the time of (a)')
        else:
            lines.append(f'{label}: '
                         f'{paired_overhead(seconds[slow], seconds[fast]):+.1f}'
                         '% time per image (median of paired rounds)')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = model_io.load_config(args.config, args.cfg_options)
    lcreg_neck_cfg(cfg.model)
    args.batch_size_resolved = args.batch_size or int(
        cfg.train_dataloader.batch_size)
    size = tuple(args.input_size) if args.input_size \
        else input_size_from_pipeline(train_pipeline(cfg))
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    inputs = synthetic_inputs(args.batch_size_resolved, size,
                              args.channels_last, args.collate, args.seed)
    print(f'config: {args.config}')
    print(f'device: {args.device}'
          + (f' ({torch.cuda.get_device_name()})' if args.device == 'cuda'
             else f' ({torch.get_num_threads()} threads)')
          + f', batch {args.batch_size_resolved}, input 3x{size[0]}x'
          f'{size[1]}, amp {args.amp}, channels_last {args.channels_last}, '
          f'collate {args.collate}')
    print(f'{args.warmup} warm-up iterations, then {args.repeat} interleaved '
          f'rounds of {args.iters} timed iterations per variant')
    reference = args.amp or args.channels_last
    wanted = args.variants or [v for v in VARIANTS
                               if v != 'fp32' or reference]
    if 'fp32' in wanted and not reference:
        raise ValueError('--variants fp32 is the float32 NCHW reference of '
                         '--amp / --channels-last; add one of them.')
    variants = [v for v in VARIANTS if v in wanted]
    if args.device == 'cuda':  # the allocator's peak, warm-up included
        peaks = {v: peak_memory(v, cfg, args, inputs,
                                args.warmup + MEMORY_STEPS)
                 for v in variants}
    else:  # every block mmapped while measuring memory, heap reuse timing
        if not set_mmap_threshold(MMAP_SMALL):
            print('note: no glibc mallopt: the memory column is the '
                  'process peak (ru_maxrss), a lower bound')
        # one-time costs of the process (thread pools, kernel caches) are
        # paid by a first, unmeasured pass, not by the first variant
        peak_memory(variants[0], cfg, args, inputs, MEMORY_STEPS)
        peaks = {v: peak_memory(v, cfg, args, inputs, MEMORY_STEPS)
                 for v in variants}
        set_mmap_threshold(MMAP_LARGE)
    seconds = interleaved_timing(variants, cfg, args, inputs)
    print(format_report(seconds, peaks,
                        args.iters * args.batch_size_resolved,
                        PeakMemory(args.device).label))
    return dict(seconds=seconds, peaks=peaks)


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
