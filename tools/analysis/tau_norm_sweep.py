"""Post-hoc tau-normalisation (Kang et al., ICLR 2020) or post-hoc logit
adjustment (Menon et al., ICLR 2021): choose tau on a split.

    python tools/analysis/tau_norm_sweep.py CONFIG CHECKPOINT
        [--method tau-norm|logit-adjust]
        [--taus 0:2:0.1] [--split val|test] [--out FILE.json]
        [--batch-size N] [--num-workers N] [--device cpu|cuda]
        [--cfg-options k=v ...]

The features that enter the classifier (after backbone and neck) are
extracted once for the whole split (with a progress bar); then
``tau_norm_sweep`` of ``lcreg/models/heads/scaled_linear_head.py`` scores
every tau of the grid (classifier weights ``W_c / ||W_c||^tau``, bias and
learnable scale unchanged). The tool prints the table and the best tau and
writes them as JSON (default ``<checkpoint dir>/tau_norm_sweep_<split>.json``).
Then evaluate with the chosen value::

    python tools/test.py CONFIG CHECKPOINT --cfg-options model.head.tau=<best>

``--method logit-adjust`` works on any model: the head's logits f of the
split are computed once and every tau of the grid is scored with the
prediction ``argmax_j f_j − tau·log π_j`` (π: the class priors of
``train_dataloader.dataset``), as ``PosthocLogitAdjustHook`` predicts;
the output is ``<checkpoint dir>/logit_adjust_sweep_<split>.json`` and the
test command sets ``default_hooks.logit_adjust.tau=<best>``.

For tau-normalisation the model's head must be a ``ScaledLinearClsHead``. A checkpoint trained
with a plain ``LinearClsHead`` (e.g. the cross-entropy baselines) loads into
a ``ScaledLinearClsHead`` config (the cRT/LWS configs): its per-class scale
then stays 1, in this sweep and in the ``tools/test.py`` command it prints.
Any other mismatch between checkpoint and config is an error.

Choose tau on a validation split, not on the split you report: the
ImageNet-LT and Places-LT configs validate on their test lists, so add e.g.
``--cfg-options
val_dataloader.dataset.ann_file=ImageNet_LT/ImageNet_LT_val.txt``.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import List, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import lcreg  # noqa: E402,F401  (registers the toolbox's modules)
from lcreg.analysis import model_io  # noqa: E402
from lcreg.engine.hooks.posthoc_logit_adjust_hook import (  # noqa: E402
    logit_adjust_sweep)
from lcreg.engine.runner.checkpoint_fit import (  # noqa: E402
    check_checkpoint_fits, optional_keys)
from lcreg.evaluation.long_tail_metric import (  # noqa: E402
    class_counts_from_dataset_cfg)
from lcreg.models.heads.scaled_linear_head import (  # noqa: E402
    ScaledLinearClsHead, tau_norm_sweep)
from lcreg.utils.cli import run_cli  # noqa: E402

def parse_taus(text: str) -> List[float]:
    """``'start:stop:step'`` (stop included) or ``'a,b,c'`` → list of tau."""
    fmt = "expected 'start:stop:step' (e.g. 0:2:0.1) or a list 'a,b,c'"
    try:
        if ':' in text:
            parts = [float(p) for p in text.split(':')]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise argparse.ArgumentTypeError(
                    f'--taus {text!r}: need step > 0 and stop >= start.')
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            return [round(start + i * step, 10) for i in range(count)]
        taus = [float(p) for p in text.split(',') if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--taus {text!r}: {fmt}.') from None
    if not taus:
        raise argparse.ArgumentTypeError(f'--taus {text!r}: {fmt}.')
    return taus


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Sweep the tau of tau-normalisation on a split')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--method', choices=['tau-norm', 'logit-adjust'],
                        default='tau-norm',
                        help='tau-normalisation of the classifier weights '
                        '(default) or post-hoc logit adjustment')
    parser.add_argument('--taus', type=parse_taus, default='0:2:0.1',
                        help="grid: 'start:stop:step' (stop included) or "
                        "'a,b,c' (default 0:2:0.1)")
    parser.add_argument('--split', choices=['val', 'test'], default='val',
                        help='the val_dataloader or the test_dataloader of '
                        'the config (default val)')
    parser.add_argument('--out', help='JSON file to write (default: '
                        '<checkpoint dir>/tau_norm_sweep_<split>.json)')
    parser.add_argument('--batch-size', type=int,
                        help="override the dataloader's batch size")
    parser.add_argument('--num-workers', type=int,
                        help="override the dataloader's workers")
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys (unknown keys are refused; prefix a key '
        'with + to add it)')
    args = parser.parse_args(argv)
    if isinstance(args.taus, str):  # argparse does not convert defaults
        args.taus = parse_taus(args.taus)
    if args.out is not None and not args.out.endswith('.json'):
        parser.error(f'--out must name a .json file, got {args.out}')
    return args


def build_model(cfg: Config, checkpoint: str, device: str,
                method: str = 'tau-norm'):
    """The model of ``cfg`` with the weights of ``checkpoint``, in eval."""
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') \
        else dict(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    head = getattr(model, 'head', None)
    if method == 'tau-norm' and not isinstance(head, ScaledLinearClsHead):
        raise ValueError(
            f'{cfg.filename}: model.head is {type(head).__name__}; '
            'tau-normalisation needs a ScaledLinearClsHead (set '
            "model.head.type='ScaledLinearClsHead', e.g. use the cRT/LWS "
            'config of the same baseline).')
    model_io.require_file(checkpoint, 'checkpoint')
    state = check_checkpoint_fits(model, checkpoint, cfg.filename,
                                  optional=optional_keys(model))
    model.load_state_dict(state, strict=False)  # only optional keys absent
    return model.to(device).eval()


def split_is_the_test_set(cfg: Config, split: str) -> str:
    """The test set's file (ann_file, else data_root) when ``split``'s
    dataset reads the same data as ``test_dataloader``'s, else ''."""
    if split == 'test':
        return ''
    datasets = [(cfg.get(f'{s}_dataloader') or {}).get('dataset') or {}
                for s in (split, 'test')]
    keys = [tuple(d.get(k) for k in ('type', 'data_root', 'ann_file',
                                     'split', 'test_mode'))
            for d in datasets]
    if not datasets[1] or keys[0] != keys[1]:
        return ''
    return str(datasets[1].get('ann_file') or datasets[1].get('data_root'))


def build_loader(cfg: Config, split: str, batch_size, num_workers):
    loader_cfg = cfg.get(f'{split}_dataloader')
    if not loader_cfg:
        raise ValueError(f'{cfg.filename} has no {split}_dataloader; choose '
                         "another --split.")
    loader_cfg = loader_cfg.to_dict() if hasattr(loader_cfg, 'to_dict') \
        else dict(loader_cfg)
    if batch_size is not None:
        loader_cfg['batch_size'] = batch_size
    if num_workers is not None:
        loader_cfg['num_workers'] = num_workers
    if loader_cfg.get('num_workers', 0) == 0:
        loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg)


@torch.no_grad()
def extract_features(model, loader, logits: bool = False
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Head-input features (N, D) (or, with ``logits``, the head's logits
    (N, C)) and labels (N,) of every sample."""
    feats, labels = [], []
    progress = ProgressBar(len(loader.dataset), file=sys.stdout)
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        feat = model.extract_feat(data['inputs'])
        out = model.head(feat) if logits else model.head.pre_logits(feat)
        feats.append(out.float().cpu())
        labels.append(torch.cat(
            [sample.gt_label for sample in data['data_samples']]).cpu())
        progress.update(len(data['data_samples']))
    sys.stdout.write('\n')
    return torch.cat(feats), torch.cat(labels).long()


def format_table(scores: dict, best_tau: float) -> str:
    lines = ['  tau   top-1 (%)']
    for tau, top1 in scores.items():
        mark = '  <- best' if tau == best_tau else ''
        lines.append(f'{tau:5.2f}   {top1:8.2f}{mark}')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = model_io.load_config(args.config, args.cfg_options)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = build_model(cfg, args.checkpoint, device, args.method)
    loader = build_loader(cfg, args.split, args.batch_size, args.num_workers)
    print(f'extracting features of the {args.split} split '
          f'({len(loader.dataset)} images)')
    tuned_on_test = split_is_the_test_set(cfg, args.split)
    if tuned_on_test:
        print(f'WARNING: the {args.split} split is the test set of this '
              f'config ({tuned_on_test}): a tau chosen here is tuned on the '
              'test set. Point val_dataloader.dataset at a validation list '
              '(e.g. --cfg-options val_dataloader.dataset.ann_file='
              'ImageNet_LT/ImageNet_LT_val.txt).')
    adjust = args.method == 'logit-adjust'
    feats, labels = extract_features(model, loader, logits=adjust)
    if adjust:
        counts = class_counts_from_dataset_cfg(cfg.train_dataloader.dataset)
        best_tau, scores = logit_adjust_sweep(feats, labels, counts,
                                              taus=args.taus)
        option, stem = 'default_hooks.logit_adjust.tau', 'logit_adjust_sweep'
    else:
        best_tau, scores = tau_norm_sweep(feats, labels, model.head,
                                          taus=args.taus)
        option, stem = 'model.head.tau', 'tau_norm_sweep'
    print(format_table(scores, best_tau))
    print(f'best tau = {best_tau:g}: top-1 {scores[best_tau]:.2f} % '
          f'({args.split} split, {len(labels)} images, {args.method})')
    result = dict(
        config=args.config, checkpoint=args.checkpoint, split=args.split,
        method=args.method,
        num_samples=len(labels), taus=list(scores),
        top1={f'{tau:g}': top1 for tau, top1 in scores.items()},
        best_tau=best_tau, best_top1=scores[best_tau],
        tuned_on_test_set=bool(tuned_on_test))
    out = args.out or osp.join(
        osp.dirname(osp.abspath(args.checkpoint)),
        f'{stem}_{args.split}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'written to {out}\nevaluate with: python tools/test.py '
          f'{args.config} {args.checkpoint} --cfg-options '
          f'{option}={best_tau:g}')
    return result


def cli(argv=None):
    """``main`` with one-line user errors (see lcreg.utils.cli)."""
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
