"""lcreg.analysis.per_class on hand-made metrics."""
import json
import math

import numpy as np
import pytest

from lcreg.analysis import per_class as pc


def _write(path, **extra):
    metrics = {'lt/top1': 55.0, 'lt/per_class': [80.0, None, 40.0, 20.0],
               'lt/num_many': 1.0, 'lt/num_medium': 2.0, 'lt/num_few': 1.0}
    metrics.update(extra)
    path.write_text(json.dumps(metrics))
    return str(path)


def test_load_test_metrics(tmp_path):
    result = pc.load_test_metrics(_write(tmp_path / 'a.json'))
    assert np.isnan(result['per_class'][1])
    np.testing.assert_allclose(result['per_class'][[0, 2, 3]], [80, 40, 20])
    assert (result['num_many'], result['num_medium'],
            result['num_few']) == (1, 2, 1)
    assert result['top1'] == 55.0 and result['class_counts'] is None
    with_counts = pc.load_test_metrics(
        _write(tmp_path / 'b.json', **{'lt/class_counts': [5, 50, 500, 9]}))
    np.testing.assert_array_equal(with_counts['class_counts'],
                                  [5, 50, 500, 9])


def test_load_test_metrics_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='tools/test.py'):
        pc.load_test_metrics(str(tmp_path / 'missing.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"lt/top1": 1.0}')
    with pytest.raises(KeyError, match='lt/per_class'):
        pc.load_test_metrics(str(bad))


def test_head_to_tail_order_is_stable():
    np.testing.assert_array_equal(pc.head_to_tail_order([5, 50, 500, 50]),
                                  [2, 1, 3, 0])


def test_split_bands_and_band_means():
    bands = pc.split_bands(2, 0, 3)
    assert bands == [('many', 0, 2), ('few', 2, 5)]
    means = pc.band_means(np.array([90, 70, np.nan, 30, 10.0]), bands)
    assert means == {'many': 80.0, 'few': 20.0}
    assert math.isnan(pc.band_means(np.array([np.nan]),
                                    [('few', 0, 1)])['few'])
    with pytest.raises(ValueError):
        pc.split_bands(-1, 0, 0)


def test_check_same_classes():
    a = dict(per_class=np.zeros(4), num_many=1, num_medium=2, num_few=1)
    b = dict(a, num_few=0, num_medium=3)
    pc.check_same_classes([a, a], ['a', 'a2'], np.ones(4))
    with pytest.raises(ValueError, match='many/medium/few'):
        pc.check_same_classes([a, b], ['a', 'b'], None)
    with pytest.raises(ValueError, match='class counts'):
        pc.check_same_classes([a], ['a'], np.ones(3))
