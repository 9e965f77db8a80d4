"""tools/analysis/dataset_stats.py run as a user would, in a subprocess."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'dataset_stats.py'
# 393 images; many (> 100): 150, 101; medium: 100, 20; few (< 20): 19, 3
TRAIN_COUNTS = [150, 101, 100, 20, 19, 3]
VAL_COUNTS = [2, 0, 4, 1, 1, 1]

CONFIG = """
default_scope = 'mmpretrain'
dataset_type = 'LTListDataset'
pipeline = [dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=8),
            dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root={root!r},
                 ann_file='train.txt', data_prefix='images', num_classes=6,
                 require_all_classes=True, pipeline=pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root={root!r},
                 ann_file='val.txt', data_prefix='images', num_classes=6,
                 test_mode=True, pipeline=pipeline))
"""


def _write_list(path, counts):
    with open(path, 'w') as f:
        for label, count in enumerate(counts):
            for i in range(count):
                f.write(f'class_{label}/{i:05d}.jpg {label}\n')


def _run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND='Agg')
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=cwd,
                          env=env, capture_output=True, text=True,
                          timeout=300)


def _printed(stdout):
    return dict(line.split(': ', 1) for line in stdout.splitlines()
                if ': ' in line)


def test_dataset_stats_profile_and_histogram(tmp_path):
    _write_list(tmp_path / 'train.txt', TRAIN_COUNTS)
    _write_list(tmp_path / 'val.txt', VAL_COUNTS)
    config = tmp_path / 'tiny_lt.py'
    config.write_text(CONFIG.format(root=str(tmp_path)))
    out_dir = tmp_path / 'stats'

    result = _run(str(config), '--out-dir', str(out_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = _printed(result.stdout)
    assert printed['classes'] == '6'
    assert printed['images'] == '393'
    assert printed['head (max) count'] == '150'
    assert printed['tail (min) count'] == '3'
    assert printed['imbalance factor (max/min)'] == '50.00'
    assert printed['many-shot classes (> 100)'] == '2'
    assert printed['medium-shot classes (20..100)'] == '2'
    assert printed['few-shot classes (< 20)'] == '2'
    png = Path(printed['histogram'])
    assert png == out_dir / 'tiny_lt_train_class_counts.png'
    with Image.open(png) as image:
        assert image.format == 'PNG' and image.size == (800, 400)
        pixels = np.asarray(image.convert('RGB'))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not blank

    # --split val and --cfg-options: 8 classes, two of them (and class 1)
    # without images
    result = _run(str(config), '--split', 'val', '--out-dir', str(out_dir),
                  '--cfg-options', 'val_dataloader.dataset.num_classes=8',
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = _printed(result.stdout)
    assert (printed['classes'], printed['images']) == ('8', '9')
    assert (printed['head (max) count'], printed['tail (min) count']) == (
        '4', '0')
    assert printed['imbalance factor (max/min)'] == 'inf'
    assert printed['few-shot classes (< 20)'] == '8'
    assert Path(printed['histogram']).name == 'tiny_lt_val_class_counts.png'
    assert Path(printed['histogram']).is_file()

    # A split the config does not define: one clear error line.
    result = _run(str(config), '--split', 'test', cwd=tmp_path)
    assert result.returncode != 0
    assert 'tiny_lt.py has no test_dataloader.dataset' in result.stderr


def test_dataset_stats_help():
    result = _run('--help', cwd=REPO)
    assert result.returncode == 0
    assert '--split' in result.stdout and '--cfg-options' in result.stdout
    assert '--out-dir' in result.stdout
