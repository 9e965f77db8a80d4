"""lcreg.analysis.calibration: bins equal to the metric's ECE."""
import numpy as np
import pytest

from lcreg.analysis.calibration import (predictions_to_calibration,
                                        reliability_bins)
from lcreg.evaluation.long_tail_metric import expected_calibration_error


def test_bins_hand_computed_with_upper_edges_inclusive():
    # 4 bins of width 0.25: (0, .25], (.25, .5], (.5, .75], (.75, 1]
    conf = np.array([0.0, 0.25, 0.3, 0.5, 0.9, 1.0])
    correct = np.array([0, 1, 0, 1, 1, 0], dtype=bool)
    bins = reliability_bins(conf, correct, num_bins=4)
    np.testing.assert_allclose(bins['edges'], [0, .25, .5, .75, 1])
    # 0 and 0.25 -> bin 0; 0.3 and 0.5 -> bin 1; 0.9 and 1.0 -> bin 3
    np.testing.assert_array_equal(bins['count'], [2, 2, 0, 2])
    np.testing.assert_allclose(bins['accuracy'][[0, 1, 3]], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(bins['confidence'][[0, 1, 3]],
                               [0.125, 0.4, 0.95])
    assert np.isnan(bins['accuracy'][2]) and np.isnan(bins['gap'][2])
    np.testing.assert_allclose(bins['gap'][[0, 1, 3]], [-0.375, -0.1, 0.45])
    # ECE = sum |B|/n |acc - conf| = (2*.375 + 2*.1 + 2*.45) / 6
    assert bins['ece'] == pytest.approx((0.75 + 0.2 + 0.9) / 6)


def test_ece_equals_metric_and_bin_weighted_gaps():
    rng = np.random.RandomState(0)
    conf = rng.uniform(0, 1, 500)
    correct = rng.uniform(0, 1, 500) < conf
    bins = reliability_bins(conf, correct, num_bins=15)
    assert bins['ece'] == expected_calibration_error(conf, correct, 15)
    filled = bins['count'] > 0
    weighted = (bins['count'][filled] / 500 *
                np.abs(bins['gap'][filled])).sum()
    assert bins['ece'] == pytest.approx(weighted)
    assert bins['count'].sum() == 500


def test_predictions_to_calibration_and_errors():
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    conf, correct = predictions_to_calibration(scores, [0, 1])
    np.testing.assert_allclose(conf, [0.7, 0.6])
    np.testing.assert_array_equal(correct, [True, False])
    with pytest.raises(ValueError):
        predictions_to_calibration(scores, [0])
    with pytest.raises(ValueError, match='probabilities'):
        reliability_bins(np.array([1.5]), np.array([True]))
    with pytest.raises(ValueError, match='num_bins'):
        reliability_bins(conf, correct, num_bins=0)
