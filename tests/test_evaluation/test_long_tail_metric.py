"""Tests of LongTailMetric and of the split table / JSON helpers (hand-computed)."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, METRICS
from mmpretrain.structures import DataSample

import lcreg  # noqa: F401  (registration)
from lcreg.evaluation import (LongTailMetric, dump_metrics_json,
                              format_split_table)
from lcreg.evaluation.long_tail_metric import (MISLAS_RANK_BOUNDARIES,
                                               expected_calibration_error)

# Training counts, deliberately not sorted by label: at the thresholds
# 101, 500 -> many; 20, 21, 100 -> medium; 5 -> few.
COUNTS = [20, 500, 5, 101, 100, 21]
NUM_CLASSES = len(COUNTS)

# (gt, predicted, confidence) of 11 test samples.
SAMPLES = [
    (0, 0, 0.9), (0, 1, 0.9),  # class 0: 1/2
    (1, 1, 0.5),  # class 1: 1/1
    (2, 3, 0.5), (2, 0, 0.5),  # class 2: 0/2
    (3, 2, 0.5),  # class 3: 0/1
    (4, 4, 0.9), (4, 4, 0.9), (4, 4, 0.5), (4, 0, 0.5),  # class 4: 3/4
    (5, 5, 0.9),  # class 5: 1/1
]
PER_CLASS = [50.0, 100.0, 0.0, 0.0, 75.0, 100.0]


def scores_for(pred, conf, num_classes=NUM_CLASSES):
    """Probabilities with ``conf`` on ``pred`` and the rest spread evenly."""
    scores = torch.full((num_classes, ), (1 - conf) / (num_classes - 1))
    scores[pred] = conf
    return scores


def data_samples(samples=SAMPLES, num_classes=NUM_CLASSES):
    return [
        DataSample().set_gt_label(gt).set_pred_score(
            scores_for(pred, conf, num_classes)) for gt, pred, conf in samples
    ]


def run_metric(metric, samples):
    metric.process(None, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def test_threshold_groups_per_class_and_ece():
    metrics = run_metric(LongTailMetric(class_counts=COUNTS), data_samples())
    assert metrics['lt/top1'] == pytest.approx(100 * 6 / 11)
    assert metrics['lt/per_class'] == pytest.approx(PER_CLASS)
    # many = {1 (500), 3 (101)}; medium = {0 (20), 4 (100), 5 (21)}; few = {2}
    assert metrics['lt/many'] == pytest.approx((100 + 0) / 2)
    assert metrics['lt/medium'] == pytest.approx((50 + 75 + 100) / 3)
    assert metrics['lt/few'] == pytest.approx(0.0)
    assert (metrics['lt/num_many'], metrics['lt/num_medium'],
            metrics['lt/num_few']) == (2, 3, 1)
    # ECE, 15 bins: conf 0.9 -> bin (13/15, 14/15]: 5 samples, 4 right, gap 0.1;
    # conf 0.5 -> bin (7/15, 8/15]: 6 samples, 2 right, gap |1/3 - 1/2| = 1/6.
    expected_ece = 5 / 11 * 0.1 + 6 / 11 * (1 / 6)
    assert metrics['lt/ece'] == pytest.approx(100 * expected_ece, rel=1e-5)
    assert list(metrics)[0] == 'lt/top1'  # what save_best='auto' picks


def test_thresholds_are_configurable():
    metric = LongTailMetric(
        class_counts=COUNTS, many_threshold=20, few_threshold=21)
    metrics = run_metric(metric, data_samples())
    # many: > 20 -> {1, 3, 4, 5}; few: < 21 -> {0, 2}; medium: none -> NaN.
    assert metrics['lt/many'] == pytest.approx((100 + 0 + 75 + 100) / 4)
    assert metrics['lt/few'] == pytest.approx((50 + 0) / 2)
    assert math.isnan(metrics['lt/medium'])
    assert metrics['lt/num_medium'] == 0


def test_class_without_test_samples_is_left_out_of_its_group():
    samples = [s for s in SAMPLES if s[0] != 3]  # class 3 (many) not tested
    metrics = run_metric(
        LongTailMetric(class_counts=COUNTS), data_samples(samples))
    assert math.isnan(metrics['lt/per_class'][3])
    assert metrics['lt/many'] == pytest.approx(100.0)
    assert metrics['lt/num_many'] == 2


def test_rank_mode():
    # Decreasing count order: 1 (500), 3 (101), 4 (100), 5 (21), 0 (20), 2 (5).
    metric = LongTailMetric(
        class_counts=COUNTS, split_mode='rank', rank_boundaries=(2, 4))
    metrics = run_metric(metric, data_samples())
    assert metrics['lt/many'] == pytest.approx((100 + 0) / 2)  # classes 1, 3
    assert metrics['lt/medium'] == pytest.approx((75 + 100) / 2)  # 4, 5
    assert metrics['lt/few'] == pytest.approx((50 + 0) / 2)  # 0, 2
    assert (metrics['lt/num_many'], metrics['lt/num_medium'],
            metrics['lt/num_few']) == (2, 2, 2)


def test_rank_mode_mislas_defaults_and_ties():
    # CIFAR-10-LT IF100 counts: by threshold no class is few-shot (min is 50).
    counts = [int(5000 * 0.01**(c / 9)) for c in range(10)]
    assert counts[-1] == 50 and counts[7] == 139
    samples = [(c, c if c % 2 == 0 else 0, 0.8) for c in range(10)]
    by_threshold = run_metric(
        LongTailMetric(class_counts=counts), data_samples(samples, 10))
    assert (by_threshold['lt/num_many'], by_threshold['lt/num_medium'],
            by_threshold['lt/num_few']) == (8, 2, 0)
    assert math.isnan(by_threshold['lt/few'])
    by_rank = run_metric(
        LongTailMetric(class_counts=counts, split_mode='rank'),
        data_samples(samples, 10))
    assert MISLAS_RANK_BOUNDARIES[10] == (3, 7)
    assert (by_rank['lt/num_many'], by_rank['lt/num_medium'],
            by_rank['lt/num_few']) == (3, 4, 3)
    # even classes right: many {0,1,2} -> 2/3, medium {3..6} -> 2/4, few {7,8,9}
    assert by_rank['lt/many'] == pytest.approx(200 / 3)
    assert by_rank['lt/medium'] == pytest.approx(50.0)
    assert by_rank['lt/few'] == pytest.approx(100 / 3)

    # Ties keep label order: counts [10, 10, 5], (1, 2) -> many {0}, medium {1}.
    tie_samples = [(0, 0, 0.9), (1, 0, 0.9), (2, 2, 0.9)]
    tied = run_metric(
        LongTailMetric(
            class_counts=[10, 10, 5], split_mode='rank',
            rank_boundaries=(1, 2)), data_samples(tie_samples, 3))
    assert (tied['lt/many'], tied['lt/medium'], tied['lt/few']) == (100.0, 0.0,
                                                                    100.0)

    with pytest.raises(ValueError, match='rank_boundaries'):
        run_metric(
            LongTailMetric(class_counts=COUNTS, split_mode='rank'),
            data_samples())


def test_topk():
    # 3 classes; sample scores chosen so that the 2nd guess is unambiguous.
    scores = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]]
    gts = [1, 1, 1]
    samples = [
        DataSample().set_gt_label(g).set_pred_score(torch.tensor(s))
        for g, s in zip(gts, scores)
    ]
    metrics = run_metric(
        LongTailMetric(class_counts=[50, 30, 10], topk=(1, 2)), samples)
    assert metrics['lt/top1'] == pytest.approx(100 / 3)
    assert metrics['lt/top2'] == pytest.approx(200 / 3)


def test_expected_calibration_error_by_hand():
    # 0.91 and 0.93 share the bin (13/15, 14/15]: acc 1/2, conf 0.92 -> 0.42;
    # 0.2 is in (2/15, 3/15] (right-inclusive): acc 1, conf 0.2 -> 0.8.
    conf = np.array([0.91, 0.93, 0.2])
    correct = np.array([True, False, True])
    assert expected_calibration_error(conf, correct, 15) == pytest.approx(
        2 / 3 * 0.42 + 1 / 3 * 0.8)
    # With a single bin ECE is |overall accuracy - mean confidence|.
    assert expected_calibration_error(conf, correct, 1) == pytest.approx(
        abs(2 / 3 - (0.91 + 0.93 + 0.2) / 3))


def test_mismatched_number_of_classes():
    metric = LongTailMetric(class_counts=COUNTS[:5])
    with pytest.raises(ValueError) as err:
        metric.process(None, [s.to_dict() for s in data_samples()])
    message = str(err.value)
    assert '6 classes' in message and '5 entries' in message
    assert 'class_counts' in message


def test_bad_arguments():
    with pytest.raises(ValueError, match='exactly one'):
        LongTailMetric()
    with pytest.raises(ValueError, match='exactly one'):
        LongTailMetric(class_counts=COUNTS, train_dataset=dict(type='X'))
    with pytest.raises(ValueError, match='split_mode'):
        LongTailMetric(class_counts=COUNTS, split_mode='quantile')
    with pytest.raises(ValueError, match='few_threshold'):
        LongTailMetric(class_counts=COUNTS, few_threshold=200)
    with pytest.raises(ValueError, match='non-negative'):
        LongTailMetric(class_counts=[3, -1])
    metric = LongTailMetric(class_counts=COUNTS)
    with pytest.raises(ValueError, match='summing to 1'):
        metric.process(None, [
            DataSample().set_gt_label(0).set_pred_score(
                torch.tensor([2.0, 1, 0, 0, 0, 0])).to_dict()
        ])
    with pytest.raises(ValueError, match="'pred_score'"):
        metric.process(None, [DataSample().set_gt_label(0).to_dict()])


class _ToyTrainDataset:
    """Minimal training dataset: labels given in the config."""
    builds = 0

    def __init__(self, labels, classes=None, with_counts=False,
                 pipeline=None):
        type(self).builds += 1
        self.labels = labels
        self.pipeline = pipeline
        self.metainfo = {}
        if classes is not None:
            self.metainfo['classes'] = classes
        if with_counts:
            self.metainfo['class_counts'] = [
                int(v) for v in np.bincount(labels, minlength=len(classes))
            ]

    def get_gt_labels(self):
        return np.array(self.labels)


DATASETS.register_module(
    name='LTMetricToyTrainDataset', module=_ToyTrainDataset, force=True)


@pytest.mark.parametrize('with_counts', [True, False])
def test_train_dataset_config(with_counts):
    # counts from labels: [20, 500, 5, 101, 100, 21]
    labels = sum(([c] * n for c, n in enumerate(COUNTS)), [])
    _ToyTrainDataset.builds = 0
    metric = LongTailMetric(
        train_dataset=dict(
            type='LTMetricToyTrainDataset',
            labels=labels,
            classes=[f'c{i}' for i in range(NUM_CLASSES)],
            with_counts=with_counts,
            pipeline=[dict(type='NotARegisteredTransform')]))
    assert _ToyTrainDataset.builds == 0  # lazy
    assert metric.class_counts == COUNTS
    metrics = run_metric(metric, data_samples())
    metrics = run_metric(metric, data_samples())
    assert _ToyTrainDataset.builds == 1  # built once
    assert metrics['lt/many'] == pytest.approx(50.0)
    assert metrics['lt/medium'] == pytest.approx(75.0)


def test_train_dataset_counts_include_empty_trailing_classes():
    metric = LongTailMetric(
        train_dataset=dict(
            type='LTMetricToyTrainDataset', labels=[0, 0, 1],
            classes=['a', 'b', 'c', 'd']))
    assert metric.class_counts == [2, 1, 0, 0]
    with pytest.raises(ValueError, match='train_dataset'):
        metric.process(None, [s.to_dict() for s in data_samples()])


def test_evaluator_path_with_registry_and_prefix():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        evaluator = Evaluator(
            dict(type='LongTailMetric', class_counts=COUNTS, prefix='test_lt'))
    assert isinstance(evaluator.metrics[0], LongTailMetric)
    assert METRICS.get('LongTailMetric') is LongTailMetric
    samples = data_samples()
    evaluator.process(data_samples=samples[:6], data_batch=None)
    evaluator.process(data_samples=samples[6:], data_batch=None)
    metrics = evaluator.evaluate(len(samples))
    assert metrics['test_lt/top1'] == pytest.approx(100 * 6 / 11)
    assert metrics['test_lt/per_class'] == pytest.approx(PER_CLASS)
    no_list = Evaluator(LongTailMetric(class_counts=COUNTS, per_class=False))
    no_list.process(data_samples=samples, data_batch=None)
    assert 'lt/per_class' not in no_list.evaluate(len(samples))


def test_split_table_and_json(tmp_path):
    metrics = run_metric(LongTailMetric(class_counts=COUNTS), data_samples())
    table = format_split_table(metrics, title='toy')
    lines = table.splitlines()
    assert lines[0] == 'toy'
    assert lines[1].split() == ['overall', 'many', 'medium', 'few', 'ECE']
    assert lines[2].split() == [
        'top-1', '(%)', '54.55', '50.00', '75.00', '0.00', '13.64'
    ]
    assert lines[3].split() == ['classes', '6', '2', '3', '1']
    # columns are aligned: every number ends where its header ends
    assert lines[1].index('ECE') + 3 == len(lines[2])

    metrics['lt/few'] = float('nan')
    assert format_split_table(metrics).splitlines()[1].split()[5] == 'n/a'
    with pytest.raises(KeyError, match='lt/ece'):
        format_split_table({'lt/top1': 1.0})

    path = dump_metrics_json(
        dict(metrics, extra=torch.tensor([1.0, 2.0])), tmp_path / 'a' / 'm.json')
    loaded = json.loads(path.read_text())
    assert loaded['lt/per_class'] == pytest.approx(PER_CLASS)
    assert loaded['lt/few'] is None and loaded['extra'] == [1.0, 2.0]


class _FixedPredictionModel(BaseModel):
    """Returns the hand-made prediction of each sample (its index is the input)."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='predict'):
        for index, sample in zip(inputs, data_samples):
            _, pred, conf = SAMPLES[int(index)]
            sample.set_pred_score(scores_for(pred, conf))
        return data_samples


class _IndexDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=[f'c{i}' for i in range(NUM_CLASSES)])

    def __len__(self):
        return len(SAMPLES)

    def __getitem__(self, index):
        return dict(
            inputs=torch.tensor(index),
            data_samples=DataSample().set_gt_label(SAMPLES[index][0]))


def test_runner_test_logs_per_class_to_json(tmp_path):
    """Runner.test with the metric: no crash on the list / NaN values, and the
    per-class list reaches the JSON written by LoggerHook (tools/test.py)."""
    loader = torch.utils.data.DataLoader(
        _IndexDataset(), batch_size=4, collate_fn=pseudo_collate)
    runner = Runner(
        model=_FixedPredictionModel(),
        work_dir=str(tmp_path),
        test_dataloader=loader,
        test_evaluator=dict(
            type='LongTailMetric', class_counts=COUNTS, many_threshold=20,
            few_threshold=21),
        test_cfg=dict(),
        default_scope='mmpretrain',
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        log_level='WARNING')
    metrics = runner.test()
    assert metrics['lt/top1'] == pytest.approx(100 * 6 / 11)
    assert math.isnan(metrics['lt/medium'])  # no medium class here
    json_files = list(tmp_path.glob('*/*.json'))
    assert len(json_files) == 1
    logged = json.loads(json_files[0].read_text())
    assert logged['lt/per_class'] == pytest.approx(PER_CLASS)
    assert logged['lt/many'] == pytest.approx((100 + 0 + 75 + 100) / 4)
    assert (logged['lt/num_many'], logged['lt/num_medium'],
            logged['lt/num_few']) == (4, 0, 2)


def test_both_split_rules_in_one_evaluation():
    """Every evaluation reports both rules under distinct keys; the plain
    lt/many etc. are those of ``split_mode``."""
    counts = [int(5000 * 0.01**(c / 9)) for c in range(10)]  # CIFAR-10 IF100
    samples = [(c, c if c % 2 == 0 else 0, 0.8) for c in range(10)]
    for mode in ('rank', 'threshold'):
        metrics = run_metric(
            LongTailMetric(class_counts=counts, split_mode=mode),
            data_samples(samples, 10))
        # thresholds > 100 / < 20: many 0..7, medium 8, 9, no few class
        assert (metrics['lt/num_threshold_many'],
                metrics['lt/num_threshold_medium'],
                metrics['lt/num_threshold_few']) == (8, 2, 0)
        assert metrics['lt/threshold_many'] == pytest.approx(400 / 8)
        assert metrics['lt/threshold_medium'] == pytest.approx(50.0)
        assert math.isnan(metrics['lt/threshold_few'])
        # MiSLAS' ranks: 0..2 / 3..6 / 7..9
        assert (metrics['lt/rank_many'], metrics['lt/rank_medium'],
                metrics['lt/rank_few']) == pytest.approx(
                    (200 / 3, 50.0, 100 / 3))
        for split in ('many', 'medium', 'few'):
            own = metrics[f'lt/{mode}_{split}']
            assert metrics[f'lt/{split}'] == pytest.approx(own, nan_ok=True)
    # no rank ranges known for 6 classes: the threshold rule alone
    metrics = run_metric(LongTailMetric(class_counts=COUNTS), data_samples())
    assert 'lt/threshold_many' in metrics
    assert not any(key.startswith('lt/rank_') for key in metrics)
