"""Reliability diagram: accuracy against confidence in equal-width bins.

The bins are those of the evaluation metric's ECE
(:func:`lcreg.evaluation.long_tail_metric.calibration_bin_index`): bin b
holds confidences in ``(b / nb, (b + 1) / nb]``; the ECE is the metric's own
:func:`~lcreg.evaluation.long_tail_metric.expected_calibration_error`, so the
number in the picture is the one ``tools/test.py`` reports.
"""
from typing import Dict

import numpy as np

from lcreg.evaluation.long_tail_metric import (calibration_bin_index,
                                               expected_calibration_error)


def reliability_bins(confidences: np.ndarray, correct: np.ndarray,
                     num_bins: int = 15) -> Dict[str, np.ndarray]:
    """Per-bin statistics of a reliability diagram.

    Args:
        confidences: (N,) max class probability of each sample, in [0, 1].
        correct: (N,) bool, whether the top-1 prediction is right.
        num_bins: number of equal-width bins (the metric uses 15).

    Returns:
        dict with ``edges`` (num_bins + 1,), ``count`` (num_bins,) samples
        per bin, ``accuracy`` and ``confidence`` (num_bins,) means in [0, 1]
        (NaN for an empty bin), ``gap`` = confidence - accuracy (NaN for an
        empty bin; > 0 is over-confidence), and ``ece`` (float in [0, 1]).
    """
    confidences = np.asarray(confidences, dtype=np.float64).reshape(-1)
    correct = np.asarray(correct, dtype=bool).reshape(-1)
    if confidences.shape != correct.shape:
        raise ValueError(f'reliability_bins: {len(confidences)} confidences '
                         f'but {len(correct)} correctness flags.')
    if num_bins < 1:
        raise ValueError(f'reliability_bins: num_bins={num_bins} must be '
                         '>= 1.')
    if len(confidences) and (confidences.min() < 0 or confidences.max() > 1):
        raise ValueError('reliability_bins: confidences must be '
                         'probabilities in [0, 1].')
    index = calibration_bin_index(confidences, num_bins)
    count = np.bincount(index, minlength=num_bins)
    hits = np.bincount(index, weights=correct.astype(np.float64),
                       minlength=num_bins)
    conf_sum = np.bincount(index, weights=confidences, minlength=num_bins)
    accuracy = np.full(num_bins, np.nan)
    confidence = np.full(num_bins, np.nan)
    filled = count > 0
    accuracy[filled] = hits[filled] / count[filled]
    confidence[filled] = conf_sum[filled] / count[filled]
    return dict(
        edges=np.linspace(0.0, 1.0, num_bins + 1),
        count=count,
        accuracy=accuracy,
        confidence=confidence,
        gap=confidence - accuracy,
        ece=expected_calibration_error(confidences, correct, num_bins))


def predictions_to_calibration(scores: np.ndarray, labels: np.ndarray):
    """``(confidences, correct)`` from class probabilities (N, C) and
    labels (N,): the max probability and whether its class is the label
    (as the metric computes them)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError('predictions_to_calibration: scores must be (N, C) '
                         f'and labels (N,), got {scores.shape} and '
                         f'{labels.shape}.')
    return scores.max(axis=1), scores.argmax(axis=1) == labels
