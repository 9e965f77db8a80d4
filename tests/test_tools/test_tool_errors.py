"""The analysis and benchmark tools report a user error in one line.

Each case runs a tool as a user would (a subprocess from the repository
root, CPU only) with one bad input that fails before any model is built,
and checks the README rule: exit status 2, no traceback, the last line of
stderr is ``error: <message>`` naming the bad path or key. The processes
start together: most of each run is the Python start-up.
"""
import subprocess

import pytest

from fixtures.tool_runs import REPO, last_line, tool_command, tool_env

DEMO = REPO / 'configs' / 'demo' / 'lcreg_resnet32_digits-lt.py'
TYPO = 'train_dataloader.datset.imbalance_factor'


def cases(tmp):
    """{name: (tool, args, what the error line names)}."""
    config, ckpt = tmp / 'missing_config.py', tmp / 'missing.pth'
    return {
        'dataset_stats config': (
            'analysis/dataset_stats.py', [config], str(config)),
        'dataset_stats cfg-options typo': (
            'analysis/dataset_stats.py',
            [DEMO, '--out-dir', tmp, '--cfg-options', f'{TYPO}=10'], TYPO),
        'latent_histogram checkpoint': (
            'analysis/latent_histogram.py',
            [DEMO, ckpt, '--dataset-split', 'val'], str(ckpt)),
        'per_class_accuracy results': (
            'analysis/per_class_accuracy.py', [tmp / 'test.json'],
            str(tmp / 'test.json')),
        'plot_curves log': (
            'analysis/plot_curves.py', [tmp / 'scalars.json'],
            str(tmp / 'scalars.json')),
        'reliability_diagram predictions': (
            'analysis/reliability_diagram.py',
            ['--predictions', tmp / 'preds.npz'], str(tmp / 'preds.npz')),
        'similarity_maps image': (
            'analysis/similarity_maps.py',
            [DEMO, ckpt, '--image', tmp / 'cat.png'], str(tmp / 'cat.png')),
        'tau_norm_sweep config': (
            'analysis/tau_norm_sweep.py', [config, ckpt], str(config)),
        'throughput config': (
            'benchmarks/throughput.py', [config], str(config)),
        'list_loading list': (
            'benchmarks/list_loading.py', ['--list', tmp / 'train.txt'],
            str(tmp / 'train.txt')),
    }


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """{name: (CompletedProcess, expected name in the error line)}."""
    tmp = tmp_path_factory.mktemp('tool_errors')
    started = {}
    for name, (tool, args, named) in cases(tmp).items():
        cmd = tool_command(tool, *args)
        started[name] = (cmd, named, subprocess.Popen(
            cmd, cwd=REPO, env=tool_env(), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = {}
    for name, (cmd, named, proc) in started.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[name] = (subprocess.CompletedProcess(
            cmd, proc.returncode, stdout, stderr), named)
    return results


@pytest.mark.parametrize('name', list(cases(REPO)))  # (names only)
def test_one_line_error(runs, name):
    result, named = runs[name]
    line = last_line(result.stderr)
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert line.startswith('error: ') and named in line, line
