"""tools/analysis/{latent_histogram,similarity_maps,per_class_accuracy,
reliability_diagram,plot_curves}.py run as a user would, on a checkpoint
trained once for this module, plus the TensorBoard switch.

The tiny run: the demo recipe (configs/demo/lcreg_resnet32_digits-lt.py,
LCReg with 10 latents) on 16×16 Digits-LT, 2 + 1 epochs, then tools/test.py
for the metrics JSON. The five tool runs go in parallel subprocesses; the
tests check each PNG (exists, decodes, pixel size) and the printed numbers
against the same numbers computed here.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / 'tools' / 'analysis'
NUM_LATENTS = 10
TOPK = 3

CONFIG = """
_base_ = [{demo!r}]
stage1_epochs = 2
stage2_epochs = 1
train_pipeline = [dict(type='RandomCrop', crop_size=16, padding=2),
                  dict(type='PackInputs')]
test_pipeline = [dict(type='PackInputs')]
train_dataset = dict(
    type='LongTailed',
    dataset=dict(type='SklearnDigits', split='train', scale=2,
                 pipeline=train_pipeline),
    imbalance_factor=10, imbalance_type='exp', seed=0, max_per_class=40)
test_dataset = dict(type='SklearnDigits', split='test', test_per_class=8,
                    scale=2, pipeline=test_pipeline)
train_dataloader = dict(batch_size=32, dataset=train_dataset)
val_dataloader = dict(batch_size=40, dataset=test_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(train_dataset=train_dataset, many_threshold=25,
                     few_threshold=8)
test_evaluator = val_evaluator
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.5,
         begin=0, end=stage1_epochs),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=stage1_epochs,
         end=stage1_epochs + stage2_epochs, eta_min=0.0),
]
train_cfg = dict(max_epochs=stage1_epochs + stage2_epochs,
                 stage1_epochs=stage1_epochs, val_interval=1)
default_hooks = dict(logger=dict(interval=2),
                     checkpoint=dict(interval=3, max_keep_ckpts=1))
"""


def _env():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', MPLBACKEND='Agg')
    env.pop('LCREG_TENSORBOARD', None)
    return env


def _command(tool, *args):
    return [sys.executable, str(tool)] + [str(a) for a in args]


def _check(result, what):
    assert result.returncode == 0, (
        f'{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result.stdout


def _png_size(path):
    with Image.open(path) as image:
        assert image.format == 'PNG'
        size = image.size
        pixels = np.asarray(image.convert('RGB'))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not blank
    return size


def _write_digit_pngs(folder):
    """Two 16×16 RGB PNGs of test digits 0 and 1 (as the dataset holds
    them: 0..255, nearest-neighbour enlarged, 3 equal channels)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    paths = []
    for k, index in enumerate((0, 1)):
        img = np.clip(digits.images[index] * (255.0 / 16.0), 0, 255)
        img = img.astype(np.uint8).repeat(2, 0).repeat(2, 1)
        path = folder / f'digit{k}.png'
        Image.fromarray(np.stack([img] * 3, axis=-1)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Config, checkpoint and scalars.json of the tiny run, test images."""
    root = tmp_path_factory.mktemp('analysis_tools')
    config = root / 'tiny_lcreg_digits.py'
    config.write_text(CONFIG.format(
        demo=str(REPO / 'configs' / 'demo' / 'lcreg_resnet32_digits-lt.py')))
    work_dir = root / 'work'
    _check(subprocess.run(
        _command(REPO / 'tools' / 'train.py', config, '--work-dir',
                 work_dir), cwd=REPO, env=_env(), capture_output=True,
        text=True, timeout=600), 'tools/train.py')
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert len(scalars) == 1
    return dict(root=root, config=config, checkpoint=work_dir / 'epoch_3.pth',
                scalars=scalars[0], test_json=root / 'test_metrics.json',
                images=_write_digit_pngs(root))


def _start(cmd):
    return subprocess.Popen(cmd, cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc, cmd):
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.fixture(scope='module')
def runs(trained):
    """tools/test.py (the metrics JSON) and the five tools, started together
    (per_class_accuracy once the JSON exists): {name: CompletedProcess}."""
    t, out = trained, trained['root'] / 'out'
    out.mkdir()
    cfg, ckpt = t['config'], t['checkpoint']
    jobs = dict(
        test=_command(REPO / 'tools' / 'test.py', cfg, ckpt, '--work-dir',
                      t['root'] / 'test', '--out', t['test_json']),
        latent_histogram=_command(
            TOOLS / 'latent_histogram.py', cfg, ckpt, '--images',
            *t['images'], '--dataset-split', 'test', '--max-images', 60,
            '--topk', TOPK, '--out-dir', out / 'latents', '--device', 'cpu'),
        similarity_maps=_command(
            TOOLS / 'similarity_maps.py', cfg, ckpt, '--image',
            t['images'][0], '--latent', 0, 3, '--out', out / 'sim.png',
            '--device', 'cpu'),
        reliability_diagram=_command(
            TOOLS / 'reliability_diagram.py', cfg, ckpt, '--out',
            out / 'reliability.png', '--save-predictions',
            out / 'predictions.npz', '--device', 'cpu'),
        plot_curves=_command(
            TOOLS / 'plot_curves.py', t['scalars'], t['scalars'], '--labels',
            'first', 'second', '--keys', 'loss', 'loss_recon', 'lt/top1',
            '--out', out / 'curves.png'),
    )
    procs = {name: _start(cmd) for name, cmd in jobs.items()}
    results = {'test': _finish(procs.pop('test'), jobs['test'])}
    _check(results['test'], 'tools/test.py')
    per_class = _command(
        TOOLS / 'per_class_accuracy.py', t['test_json'], t['test_json'],
        '--labels', 'run A', 'run B', '--config', cfg, '--out',
        out / 'per_class.png')
    procs['per_class_accuracy'] = _start(per_class)
    jobs['per_class_accuracy'] = per_class
    for name, proc in procs.items():
        results[name] = _finish(proc, jobs[name])
    return dict(results=results, out=out)


def _model_and_cfg(trained):
    from lcreg.analysis import model_io
    cfg = model_io.load_config(str(trained['config']))
    return cfg, model_io.load_model(cfg, str(trained['checkpoint']), 'cpu')


def test_latent_histogram(trained, runs):
    from lcreg.analysis import latent_stats as ls
    from lcreg.analysis import model_io
    stdout = _check(runs['results']['latent_histogram'], 'latent_histogram')
    out = runs['out'] / 'latents'
    # per image: 1000 x 400 PNG, printed top-k = the top-k of mean_n A
    cfg, model = _model_and_cfg(trained)
    for path in trained['images']:
        png = out / f'{path.stem}_latent_histogram.png'
        assert f'saved {png}' in stdout
        assert _png_size(png) == (1000, 400)
        batch = model_io.load_image(str(path), cfg, False)
        weights = ls.latent_weights(
            model_io.latents_of_batch(model, batch)['assignment'])[0]
        top, values = ls.top_latents(weights[None], TOPK)
        printed = re.search(rf'{re.escape(str(path))}: top latents (.*)',
                            stdout).group(1)
        pairs = re.findall(r'(\d+) \(([\d.]+)\)', printed)
        assert [int(m) for m, _ in pairs] == top[0].tolist()
        np.testing.assert_allclose([float(w) for _, w in pairs], values[0],
                                   atol=1e-4)
    # dataset mode: 60 of the 80 test images, numbers saved in the npz
    assert 'test split: 60 of 80 images' in stdout
    data = np.load(out / 'latent_weights_test.npz')
    weights, labels = data['weights'], data['labels']
    assert weights.shape == (60, NUM_LATENTS)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(
        data['dataset_indices'], np.linspace(0, 79, 60).round())
    np.testing.assert_array_equal(labels, data['dataset_indices'] // 8)
    np.testing.assert_allclose(data['class_latent_matrix'],
                               ls.class_latent_matrix(weights, labels, 10))
    np.testing.assert_array_equal(data['top_images'],
                                  ls.top_images_per_latent(weights, TOPK))
    entropy = data['assignment_entropy']
    assert entropy.shape == (60,) and ((0 < entropy) & (entropy <= 1)).all()
    printed = float(re.search(r'assignment entropy / log M: ([\d.]+)',
                              stdout).group(1))
    assert printed == pytest.approx(entropy.mean(), abs=1e-4)
    # classes sorted by training count: LongTailed IF10, 40 -> 4 images
    assert data['class_order'].tolist() == list(range(10))
    assert 'classes sorted by training count' in stdout
    assert _png_size(out / 'latent_top_images_test.png') == (
        100 + 125 * TOPK, 125 * NUM_LATENTS)
    assert _png_size(out / 'class_latent_matrix_test.png') == (1000, 600)


def test_similarity_maps(trained, runs):
    from lcreg.analysis import latent_stats as ls
    from lcreg.analysis import model_io
    stdout = _check(runs['results']['similarity_maps'], 'similarity_maps')
    assert f'saved {runs["out"] / "sim.png"}' in stdout
    assert _png_size(runs['out'] / 'sim.png') == (900, 340)
    cfg, model = _model_and_cfg(trained)
    lat = model_io.latents_of_batch(
        model, model_io.load_image(str(trained['images'][0]), cfg, False))
    assert lat['hw'] == (4, 4)  # 16x16 input, ResNet-32 stride 4
    for m in (0, 3):
        small = ls.similarity_map(lat['similarity'][0], m, 4, 4)
        printed = re.search(rf'latent {m}: weight ([\d.]+), similarity '
                            r'([\d.]+)\.\.([\d.]+) on the 4x4', stdout)
        assert printed is not None, stdout
        np.testing.assert_allclose(
            [float(v) for v in printed.groups()],
            [ls.latent_weights(lat['assignment'])[0, m], small.min(),
             small.max()], atol=1e-4)


def test_per_class_accuracy(trained, runs):
    from lcreg.analysis import per_class as pc
    stdout = _check(runs['results']['per_class_accuracy'],
                    'per_class_accuracy')
    assert _png_size(runs['out'] / 'per_class.png') == (1000, 500)
    metrics = json.loads(trained['test_json'].read_text())
    result = pc.load_test_metrics(str(trained['test_json']))
    counts = [40, 30, 23, 18, 14, 11, 8, 6, 5, 4]  # LongTailed IF10 of 40
    assert 'test_evaluator.train_dataset' in stdout
    bands = pc.split_bands(result['num_many'], result['num_medium'],
                           result['num_few'])
    # many > 25: 40, 30; few < 8: 6, 5, 4
    assert bands == [('many', 0, 2), ('medium', 2, 7), ('few', 7, 10)]
    order = pc.head_to_tail_order(counts)
    means = pc.band_means(result['per_class'][order], bands)
    for name in ('many', 'medium', 'few'):
        value = metrics[f'lt/{name}']
        assert means[name] == pytest.approx(value)
    line = re.search(r'run B: top-1 ([\d.]+), many ([\d.]+), medium '
                     r'([\d.]+), few ([\d.]+)', stdout)
    np.testing.assert_allclose(
        [float(v) for v in line.groups()],
        [metrics['lt/top1'], means['many'], means['medium'], means['few']],
        atol=0.006)


def _load_tool(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, TOOLS / f'{name}.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_per_class_accuracy_needs_counts(trained, runs, tmp_path):
    from lcreg.analysis import per_class as pc
    tool = _load_tool('per_class_accuracy')
    assert pc.load_test_metrics(str(trained['test_json']))[
        'class_counts'] is None
    with pytest.raises(ValueError, match='have no lt/class_counts; pass '
                       '--config'):
        tool.main([str(trained['test_json']), '--out',
                   str(tmp_path / 'x.png')])
    # with lt/class_counts in the JSON, no --config is needed
    metrics = json.loads(trained['test_json'].read_text())
    metrics['lt/class_counts'] = [40, 30, 23, 18, 14, 11, 8, 6, 5, 4]
    own = tmp_path / 'with_counts.json'
    own.write_text(json.dumps(metrics))
    tool.main([str(own), '--out', str(tmp_path / 'y.png')])
    assert _png_size(tmp_path / 'y.png') == (1000, 500)
    assert not (tmp_path / 'x.png').exists()


def test_reliability_diagram_ece_is_the_metric(trained, runs, tmp_path):
    stdout = _check(runs['results']['reliability_diagram'],
                    'reliability_diagram')
    assert _png_size(runs['out'] / 'reliability.png') == (600, 750)
    metrics = json.loads(trained['test_json'].read_text())
    printed = dict(re.findall(r'^(.*?): ([\d.]+)$', stdout, re.M))
    assert printed['samples'] == '80'
    assert float(printed['ECE (%, 15 bins)']) == pytest.approx(
        metrics['lt/ece'], abs=1e-3)
    assert float(printed['top-1 (%)']) == pytest.approx(
        metrics['lt/top1'], abs=1e-3)
    # the saved predictions give the same picture without the model
    tool = _load_tool('reliability_diagram')
    with np.load(runs['out'] / 'predictions.npz') as data:
        assert data['scores'].shape == (80, 10)
        np.testing.assert_allclose(data['scores'].sum(axis=1), 1, atol=1e-5)
    tool.main(['--predictions', str(runs['out'] / 'predictions.npz'),
               '--bins', '5', '--out', str(tmp_path / 'r5.png')])
    assert _png_size(tmp_path / 'r5.png') == (600, 750)
    with pytest.raises(FileNotFoundError, match='--predictions .*missing'):
        tool.main(['--predictions', str(tmp_path / 'missing.npz')])


def test_plot_curves(trained, runs):
    from lcreg.analysis import log_curves as lc
    stdout = _check(runs['results']['plot_curves'], 'plot_curves')
    assert _png_size(runs['out'] / 'curves.png') == (800, 900)
    records = lc.read_scalar_log(str(trained['scalars']))
    for key in ('loss', 'loss_recon', 'lt/top1'):
        xs, ys, x_name = lc.extract_curve(records, key)
        assert (f'second: {key} has {len(xs)} points over {x_name}s '
                f'{xs[0]:g}..{xs[-1]:g}, last {ys[-1]:.4f}') in stdout
    assert x_name == 'epoch' and xs.tolist() == [1, 2, 3]


# ---------------------------------------------------------------- TensorBoard
def test_scalar_backends_get_every_loss_term_and_split_metric(trained):
    """scalars.json holds exactly what every scalar backend (TensorBoard
    too) receives from MMEngine's LoggerHook: each loss term and the
    per-split metrics, but not the per-class list."""
    from lcreg.analysis import log_curves as lc
    records = lc.read_scalar_log(str(trained['scalars']))
    train_keys = set().union(*(r for r in records if 'iter' in r))
    val_keys = set().union(*(r for r in records if 'iter' not in r))
    assert {'loss', 'loss_recon', 'loss_latent_aug', 'lr'} <= train_keys
    assert {'lt/top1', 'lt/many', 'lt/medium', 'lt/few',
            'lt/ece'} <= val_keys
    assert not any('per_class' in k for k in train_keys | val_keys)


def test_tensorboard_switch(monkeypatch):
    from mmengine.config import Config
    demo = str(REPO / 'configs' / 'demo' / 'lcreg_resnet32_digits-lt.py')
    monkeypatch.delenv('LCREG_TENSORBOARD', raising=False)
    cfg = Config.fromfile(demo)
    assert cfg.visualizer.vis_backends == [dict(type='LocalVisBackend')]
    monkeypatch.setenv('LCREG_TENSORBOARD', '1')
    cfg = Config.fromfile(demo)
    assert cfg.tensorboard is True
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
    monkeypatch.setenv('LCREG_TENSORBOARD', 'yes')
    with pytest.raises(ValueError, match='LCREG_TENSORBOARD must be 1'):
        Config.fromfile(demo)


def test_tensorboard_backend_writes_the_logged_scalars(trained, tmp_path):
    pytest.importorskip(
        'tensorboard', reason='tensorboard is not installed (optional: '
        'pip install -r requirements/optional.txt)')
    from mmengine.visualization import TensorboardVisBackend
    from lcreg.analysis import log_curves as lc
    backend = TensorboardVisBackend(save_dir=str(tmp_path))
    for record in lc.read_scalar_log(str(trained['scalars'])):
        scalars = {k: v for k, v in record.items() if k != 'step'}
        backend.add_scalars(scalars, step=record['step'])
    with pytest.warns(UserWarning, match='skip it'):
        backend.add_scalars({'lt/per_class': [1.0, 2.0]}, step=9)
    backend.close()
    assert list(tmp_path.glob('events.out.tfevents.*'))


def test_latent_histogram_names_same_named_images_apart():
    stems = _load_tool('latent_histogram').output_stems
    assert stems(['a/x.jpg', 'b/y.png']) == ['x', 'y']
    assert stems(['val/airfield/1.jpg', 'val/bakery/1.jpg']) == [
        'airfield_1', 'bakery_1']
    assert stems(['p/x.jpg', 'q/p/x.png']) == ['0_p_x', '1_p_x']
