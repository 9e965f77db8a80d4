"""Long-tailed evaluation: overall, many / medium / few-shot, per-class top-1 and ECE.

Definitions (all values in percent):

* ``top1`` (``topk``): fraction of test samples whose label is among the k highest
  scores (sample-level accuracy; on the balanced long-tailed test sets it equals
  the mean per-class accuracy).
* ``per_class``: accuracy of each class, a list indexed by label. A class with no
  test sample gets NaN.
* ``many`` / ``medium`` / ``few``: mean of the per-class accuracies of the classes of
  the group (classes without test samples are left out). The groups are made from
  the number of *training* images of each class:

  - ``split_mode='threshold'`` (default, the convention of OLTR / decoupling / the
    LCReg paper): many = count > ``many_threshold`` (100), few = count <
    ``few_threshold`` (20), medium otherwise (20 and 100 are medium).
  - ``split_mode='rank'``: MiSLAS' fixed rank ranges. MiSLAS relabels the classes by
    decreasing training count (ties keep the label order here, a stable sort) and
    takes ranks ``[0, a)`` as many, ``[a, b)`` as medium and ``[b, C)`` as few with
    ``(a, b)`` fixed per data set (its ``head/med/tail_class_idx`` settings):
    CIFAR-10 (3, 7), CIFAR-100 (36, 71), Places-LT (131, 288), ImageNet-LT
    (390, 835), iNaturalist 2018 (842, 4543). ``rank_boundaries=(a, b)`` overrides
    this table, which is looked up by the number of classes.

  Both rules are computed in every evaluation, under distinct keys:
  ``threshold_many`` / ``threshold_medium`` / ``threshold_few`` and
  ``rank_many`` / ``rank_medium`` / ``rank_few`` (with ``num_<key>``, the
  number of classes of each group); the plain ``many`` / ``medium`` / ``few``
  repeat the ``split_mode``'s. The rank keys are left out for a class count
  without MiSLAS boundaries (unless ``rank_boundaries`` is given). The CIFAR-LT
  recipes use ``split_mode='rank'`` (the LCReg paper's Table 5 follows MiSLAS),
  the others the thresholds.

  A group that has no class with test samples (e.g. threshold "few" on
  CIFAR-10-LT IF100, whose smallest class has 50 images) is reported as NaN,
  not as an error.
* ``ece``: expected calibration error with ``num_bins`` (15) equal-width bins of the
  confidence ``max_k p_k``: ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|``;
  bin ``b`` holds confidences in ``(b / nb, (b + 1) / nb]`` (a confidence of 0 falls
  into the first bin), as in MiSLAS' ``calibration``.

The per-class list is a non-scalar metric: MMEngine's ``RuntimeInfoHook`` stores it
as info, ``LoggerHook.after_test_epoch`` writes it to the test JSON log, and
validation logs print it without sending it to the scalar backends. Set
``per_class=False`` to leave it out (e.g. for the validation evaluator).
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import DATASETS, METRICS

# MiSLAS' (many_end, medium_end) rank boundaries, keyed by number of classes.
MISLAS_RANK_BOUNDARIES = {
    10: (3, 7),  # CIFAR-10-LT
    100: (36, 71),  # CIFAR-100-LT
    365: (131, 288),  # Places-LT
    1000: (390, 835),  # ImageNet-LT
    8142: (842, 4543),  # iNaturalist 2018
}
GROUPS = ('many', 'medium', 'few')
SPLIT_RULES = ('threshold', 'rank')


def groups_by_threshold(class_counts: np.ndarray, many_threshold: int,
                        few_threshold: int) -> Dict[str, np.ndarray]:
    """Boolean masks (C,) of the many (> many_threshold), few (< few_threshold)
    and medium (the rest) classes."""
    many = class_counts > many_threshold
    few = class_counts < few_threshold
    return dict(many=many, medium=~many & ~few, few=few)


def groups_by_rank(class_counts: np.ndarray,
                   boundaries: Tuple[int, int]) -> Dict[str, np.ndarray]:
    """Boolean masks (C,) from rank ranges ``[0, a)``, ``[a, b)``, ``[b, C)`` of the
    classes sorted by decreasing training count (stable: ties by label)."""
    many_end, medium_end = boundaries
    order = np.argsort(-class_counts, kind='stable')
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return dict(
        many=rank < many_end,
        medium=(rank >= many_end) & (rank < medium_end),
        few=rank >= medium_end)


def per_class_accuracy(gt_labels: np.ndarray, correct: np.ndarray,
                       num_classes: int) -> np.ndarray:
    """Accuracy in [0, 1] of each class (C,), NaN where a class has no sample.

    Args:
        gt_labels: (N,) int labels.
        correct: (N,) bool, whether the top-1 prediction is right.
    """
    totals = np.bincount(gt_labels, minlength=num_classes).astype(np.float64)
    hits = np.bincount(
        gt_labels, weights=correct.astype(np.float64), minlength=num_classes)
    accuracy = np.full(num_classes, np.nan)
    seen = totals > 0
    accuracy[seen] = hits[seen] / totals[seen]
    return accuracy


def calibration_bin_index(confidences: np.ndarray,
                          num_bins: int = 15) -> np.ndarray:
    """Bin of each confidence, (N,) ints in ``[0, num_bins)``.

    Bin ``b`` holds ``(b / num_bins, (b + 1) / num_bins]`` (upper edge
    inclusive); a confidence of 0 falls into bin 0.
    """
    inner_edges = np.linspace(0.0, 1.0, num_bins + 1)[1:-1]
    return np.digitize(confidences, inner_edges, right=True)


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray,
                               num_bins: int = 15) -> float:
    """ECE in [0, 1] over ``num_bins`` equal-width confidence bins.

    Args:
        confidences: (N,) max class probability of each sample.
        correct: (N,) bool, whether the top-1 prediction is right.
    """
    if len(confidences) == 0:
        return float('nan')
    bin_index = calibration_bin_index(confidences, num_bins)
    ece = 0.0
    for b in np.unique(bin_index):
        in_bin = bin_index == b
        gap = abs(correct[in_bin].mean() - confidences[in_bin].mean())
        ece += in_bin.sum() / len(confidences) * gap
    return float(ece)


def class_counts_from_dataset_cfg(dataset_cfg: dict) -> List[int]:
    """Build a training dataset config and read its per-class image counts.

    Reads ``metainfo['class_counts']`` (the toolbox convention) or else counts
    ``get_gt_labels()`` (length ``len(metainfo['classes'])`` when given). The
    ``pipeline`` is emptied: only labels are needed.
    """
    cfg = copy.deepcopy(dict(dataset_cfg))
    if 'pipeline' in cfg:
        cfg['pipeline'] = []
    dataset = DATASETS.build(cfg)
    metainfo = getattr(dataset, 'metainfo', None) or {}
    if metainfo.get('class_counts') is not None:
        return [int(c) for c in metainfo['class_counts']]
    if not hasattr(dataset, 'get_gt_labels'):
        raise ValueError(
            f"LongTailMetric: the dataset built from train_dataset (type="
            f"{cfg.get('type')!r}) has neither metainfo['class_counts'] nor "
            'get_gt_labels(); pass class_counts=[...] to the metric instead.')
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64).reshape(-1)
    num_classes = len(metainfo.get('classes') or [])
    return np.bincount(labels, minlength=num_classes).tolist()


@METRICS.register_module()
class LongTailMetric(BaseMetric):
    """Overall / many / medium / few / per-class top-1 and ECE of a classifier.

    Works with MMPretrain's ``DataSample`` (``pred_score``: (C,) class
    probabilities, ``gt_label``: (1,) label). Keys (default prefix ``lt``):
    ``lt/top1`` (and ``lt/top{k}`` for each ``k`` of ``topk``), ``lt/many``,
    ``lt/medium``, ``lt/few``, ``lt/ece``, ``lt/num_many``, ``lt/num_medium``,
    ``lt/num_few`` (classes per group, as floats) and ``lt/per_class`` (list of C floats).
    Accuracies and ECE are in percent; see the module docstring for definitions.

    Args:
        class_counts (list[int], optional): training images per class, indexed by
            label. Exactly one of ``class_counts`` and ``train_dataset``.
        train_dataset (dict, optional): config of the training dataset, built once
            (lazily, at the first batch) with MMPretrain's ``DATASETS`` to read
            ``metainfo['class_counts']`` (or count ``get_gt_labels()``).
        topk (int | Sequence[int]): overall top-k accuracies. Defaults to (1, ).
        split_mode (str): ``'threshold'`` (default) or ``'rank'`` (MiSLAS).
        many_threshold (int): many-shot classes have > this many images (100).
        few_threshold (int): few-shot classes have < this many images (20).
        rank_boundaries (tuple[int, int], optional): ``(a, b)`` for
            the rank rule; default: MiSLAS' values for the class count.
        num_bins (int): ECE bins. Defaults to 15.
        per_class (bool): report ``per_class``. Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'`` for distributed collection.
        prefix (str, optional): key prefix. Defaults to ``'lt'``.
        collect_dir (str, optional): temporary folder for CPU collection.
    """
    default_prefix = 'lt'

    def __init__(self,
                 class_counts: Optional[Sequence[int]] = None,
                 train_dataset: Optional[dict] = None,
                 topk: Sequence[int] = (1, ),
                 split_mode: str = 'threshold',
                 many_threshold: int = 100,
                 few_threshold: int = 20,
                 rank_boundaries: Optional[Tuple[int, int]] = None,
                 num_bins: int = 15,
                 per_class: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device, prefix=prefix,
            collect_dir=collect_dir)
        if (class_counts is None) == (train_dataset is None):
            raise ValueError(
                'LongTailMetric: give exactly one of class_counts=[...] (training '
                'images per class) and train_dataset=dict(...) (the training '
                'dataset config); got '
                f"{'both' if class_counts is not None else 'neither'}.")
        if class_counts is not None:
            self._class_counts = self._check_counts(class_counts,
                                                    'class_counts')
        else:
            if not isinstance(train_dataset, dict) or 'type' not in train_dataset:
                raise ValueError(
                    'LongTailMetric: train_dataset must be a dataset config dict '
                    f"with a 'type' key, got {train_dataset!r}.")
            self._class_counts = None
        self.train_dataset = train_dataset
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(int(k) < 1 for k in self.topk):
            raise ValueError(
                f'LongTailMetric: topk={topk!r} must hold integers >= 1.')
        if split_mode not in ('threshold', 'rank'):
            raise ValueError(
                f"LongTailMetric: split_mode={split_mode!r}; use 'threshold' "
                "(many > many_threshold, few < few_threshold) or 'rank' "
                "(MiSLAS' fixed rank ranges).")
        if few_threshold > many_threshold + 1:
            raise ValueError(
                f'LongTailMetric: few_threshold={few_threshold} and '
                f'many_threshold={many_threshold} make a class with a count in '
                f'({many_threshold}, {few_threshold}) both many and few; use '
                'few_threshold <= many_threshold + 1.')
        if rank_boundaries is not None:
            if (len(rank_boundaries) != 2
                    or not 0 <= rank_boundaries[0] <= rank_boundaries[1]):
                raise ValueError(
                    f'LongTailMetric: rank_boundaries={rank_boundaries!r} must '
                    'be (a, b) with 0 <= a <= b (many = ranks [0, a), medium = '
                    '[a, b), few = [b, C)).')
            rank_boundaries = (int(rank_boundaries[0]),
                               int(rank_boundaries[1]))
        if num_bins < 1:
            raise ValueError(
                f'LongTailMetric: num_bins={num_bins} must be >= 1.')
        self.split_mode = split_mode
        self.many_threshold = many_threshold
        self.few_threshold = few_threshold
        self.rank_boundaries = rank_boundaries
        self.num_bins = num_bins
        self.per_class = per_class

    @staticmethod
    def _check_counts(counts, source: str) -> List[int]:
        counts = list(counts)
        if not counts or any(int(c) != c or c < 0 for c in counts):
            raise ValueError(
                f'LongTailMetric: {source} must be a non-empty list of '
                'non-negative integers (training images per class, indexed by '
                f'label), got {counts[:10]!r}{"..." if len(counts) > 10 else ""}.')
        return [int(c) for c in counts]

    @property
    def class_counts(self) -> List[int]:
        """Training images per class (built from ``train_dataset`` on first use)."""
        if self._class_counts is None:
            counts = class_counts_from_dataset_cfg(self.train_dataset)
            self._class_counts = self._check_counts(
                counts, f"the class counts of train_dataset (type="
                f"{self.train_dataset['type']!r})")
        return self._class_counts

    def _count_key(self) -> str:
        return 'class_counts' if self.train_dataset is None else 'train_dataset'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep, per sample, its label, its top-k predictions and confidence."""
        if not data_samples:
            return
        for sample in data_samples:
            for key in ('pred_score', 'gt_label'):
                if key not in sample:
                    raise ValueError(
                        f"LongTailMetric: a data sample has no '{key}' (keys: "
                        f'{sorted(sample.keys())}); the model must return '
                        "MMPretrain DataSamples with 'pred_score' (class "
                        "probabilities) and the dataset must set 'gt_label'.")
        scores = torch.stack([
            torch.as_tensor(s['pred_score']).detach().float().reshape(-1)
            for s in data_samples
        ]).cpu()
        num_classes = scores.shape[1]
        num_counted = len(self.class_counts)
        if num_classes != num_counted:
            raise ValueError(
                f'LongTailMetric: the predictions have {num_classes} classes '
                f"(length of 'pred_score') but the class counts have "
                f'{num_counted} entries; fix the metric\'s `{self._count_key()}` '
                f'so that it describes the {num_classes}-class training set.')
        sums = scores.sum(dim=1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-2):
            raise ValueError(
                "LongTailMetric: 'pred_score' must hold class probabilities "
                f'summing to 1 (ECE needs them), got sums like '
                f'{sums[:3].tolist()}; make the head apply softmax, as '
                "MMPretrain's ClsHead.predict does.")
        maxk = min(max(self.topk), num_classes)
        confidence, top_labels = scores.topk(maxk, dim=1)
        for sample, conf, labels in zip(data_samples, confidence[:, 0],
                                        top_labels):
            gt = torch.as_tensor(sample['gt_label']).reshape(-1)
            if gt.numel() != 1:
                raise ValueError(
                    "LongTailMetric: 'gt_label' must be a single label, got "
                    f'{gt.tolist()}; this metric is for single-label data.')
            gt_label = int(gt[0])
            if not 0 <= gt_label < num_classes:
                raise ValueError(
                    f'LongTailMetric: gt_label {gt_label} is outside [0, '
                    f'{num_classes}) of the {num_classes}-class predictions.')
            self.results.append(
                dict(
                    gt_label=gt_label,
                    top_labels=labels.tolist(),
                    confidence=float(conf)))

    def _rank_boundaries(self, num_classes: int) -> Optional[Tuple[int, int]]:
        """``rank_boundaries``, else MiSLAS' for ``num_classes``, else None."""
        boundaries = self.rank_boundaries
        if boundaries is None:
            boundaries = MISLAS_RANK_BOUNDARIES.get(num_classes)
        if boundaries is not None and boundaries[1] > num_classes:
            raise ValueError(
                f'LongTailMetric: rank_boundaries={boundaries} go past the '
                f'{num_classes} classes; use b <= {num_classes}.')
        return boundaries

    def _groups(self, counts: np.ndarray,
                rule: str) -> Optional[Dict[str, np.ndarray]]:
        """Masks of the groups of ``rule`` ('threshold' / 'rank'); None for
        the rank rule without boundaries for this class count (an error
        when it is the ``split_mode``)."""
        if rule == 'threshold':
            return groups_by_threshold(counts, self.many_threshold,
                                       self.few_threshold)
        boundaries = self._rank_boundaries(len(counts))
        if boundaries is None:
            if self.split_mode != 'rank':
                return None
            raise ValueError(
                f"LongTailMetric: split_mode='rank' has no MiSLAS "
                f'boundaries for {len(counts)} classes (known: '
                f'{sorted(MISLAS_RANK_BOUNDARIES)}); set '
                'rank_boundaries=(a, b).')
        return groups_by_rank(counts, boundaries)

    def compute_metrics(self, results: List[dict]) -> Dict[str, object]:
        """Compute the metrics from the per-sample results of all ranks."""
        counts = np.asarray(self.class_counts, dtype=np.int64)
        num_classes = len(counts)
        gt = np.array([r['gt_label'] for r in results], dtype=np.int64)
        confidence = np.array([r['confidence'] for r in results])
        top_labels = [r['top_labels'] for r in results]
        top1 = np.array([labels[0] for labels in top_labels]) == gt

        metrics: Dict[str, object] = {}
        for k in self.topk:
            hit = [g in labels[:k] for g, labels in zip(gt, top_labels)]
            metrics[f'top{k}'] = 100.0 * float(np.mean(hit))

        class_accuracy = per_class_accuracy(gt, top1, num_classes)

        def group_accuracy(members):
            evaluated = members & ~np.isnan(class_accuracy)
            return (100.0 * float(class_accuracy[evaluated].mean())
                    if evaluated.any() else float('nan'))

        # Both rules, each under its own keys; the split_mode's also under
        # the plain group names.
        for rule in SPLIT_RULES:
            groups = self._groups(counts, rule)
            if groups is None:
                continue
            for name, members in groups.items():
                keys = [f'{rule}_{name}'] + (
                    [name] if rule == self.split_mode else [])
                for key in keys:
                    metrics[key] = group_accuracy(members)
                    # a float: MMEngine's LoggerHook drops numpy ints from
                    # the JSON log
                    metrics[f'num_{key}'] = float(members.sum())
        metrics['ece'] = 100.0 * expected_calibration_error(
            confidence, top1, self.num_bins)
        if self.per_class:
            metrics['per_class'] = (100.0 * class_accuracy).tolist()
        return metrics
