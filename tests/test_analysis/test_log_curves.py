"""lcreg.analysis.log_curves on a hand-written MMEngine scalars.json."""
import json

import numpy as np
import pytest

from lcreg.analysis import log_curves as lc

LINES = [
    {'lr': 0.1, 'loss': 2.0, 'loss_recon': 0.5, 'epoch': 1, 'iter': 5,
     'step': 5},
    {'lr': 0.1, 'loss': 1.5, 'loss_recon': 0.4, 'epoch': 1, 'iter': 10,
     'step': 10},
    {'lt/top1': 40.0, 'lt/many': 60.0, 'time': 1.0, 'step': 1},
    {'lr': 0.1, 'loss': 1.2, 'loss_recon': 0.3, 'time': 0.3, 'epoch': 2,
     'iter': 15, 'step': 15},
    {'lt/top1': 50.0, 'lt/many': 70.0, 'time': 1.0, 'step': 2},
]


def _write(path, lines, extra=''):
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n' + extra)
    return str(path)


def test_read_and_extract(tmp_path):
    records = lc.read_scalar_log(_write(tmp_path / 's.json', LINES, '\n'))
    assert len(records) == 5
    x, y, name = lc.extract_curve(records, 'loss')
    np.testing.assert_array_equal(x, [5, 10, 15])
    np.testing.assert_array_equal(y, [2.0, 1.5, 1.2])
    assert name == 'iteration'
    x, y, name = lc.extract_curve(records, 'lt/top1')
    np.testing.assert_array_equal(x, [1, 2])
    np.testing.assert_array_equal(y, [40.0, 50.0])
    assert name == 'epoch'
    # 'time' is in training and validation lines: the training ones win
    x, y, name = lc.extract_curve(records, 'time')
    assert name == 'iteration' and x.tolist() == [15]


def test_resumed_run_keeps_last_value(tmp_path):
    lines = LINES[:2] + [dict(LINES[1], loss=9.0)]
    records = lc.read_scalar_log(_write(tmp_path / 's.json', lines))
    x, y, _ = lc.extract_curve(records, 'loss')
    assert x.tolist() == [5, 10] and y.tolist() == [2.0, 9.0]


def test_errors_name_file_line_and_keys(tmp_path):
    path = _write(tmp_path / 's.json', LINES, '{"loss": 1.0, oops}\n')
    with pytest.raises(ValueError, match=r's\.json:6: not a JSON line'):
        lc.read_scalar_log(path)
    with pytest.raises(FileNotFoundError, match='vis_data'):
        lc.read_scalar_log(str(tmp_path / 'nope.json'))
    records = lc.read_scalar_log(_write(tmp_path / 't.json', LINES))
    with pytest.raises(KeyError, match="available: .*'loss_recon'"):
        lc.extract_curve(records, 'loss_aug')
    records.append({'lt/per_class': [1.0, 2.0], 'step': 3})
    with pytest.raises(ValueError, match='not a scalar'):
        lc.extract_curve(records, 'lt/per_class')


def test_run_label():
    assert lc.run_label('/w/lcreg_run/20240101_000000/vis_data/'
                        'scalars.json') == 'lcreg_run'
    assert lc.run_label('/tmp/mylog.json') == 'mylog'
