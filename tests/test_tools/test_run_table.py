"""tools/benchmarks/run_table.py through real subprocesses on the tiny run.

* two seeds with the best-test-epoch protocol: the table's mean ± std, the
  best epoch and both split rules recomputed by hand from each run's files;
* a run killed (SIGKILL of the runner's whole process group) in epoch 2,
  then resumed by starting the runner again: it resumes from epoch 1, ends
  with the metrics of the uninterrupted run, and a third start skips it;
* a finished run whose test JSON was damaged: one error line; --retest;
* bad input: unknown config, duplicate seeds, a folder holding another
  config's run under the same name.
"""
import json
import math
import os
import signal
import subprocess
import time

import pytest
from fixtures.tool_runs import (REPO, TINY_CONFIG, last_line, run_tool,
                                tool_command, tool_env, write_config)

from lcreg.benchmarks import results_table
from lcreg.benchmarks.table_runner import TableRunner

SEEDS = (0, 1)
RUN_NAME = 'tiny_digits_lt'


def _runner_args(work, *configs, extra=()):
    return [*map(str, configs), '--work-dir', str(work), *extra]


@pytest.fixture(scope='module')
def two_seeds(tmp_path_factory):
    work = tmp_path_factory.mktemp('table')
    proc = run_tool('benchmarks/run_table.py', *_runner_args(
        work, TINY_CONFIG, extra=['--seeds', *map(str, SEEDS),
                                  '--best-test-epoch', '--workers', '0']),
        timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work, proc.stdout


def _test_json(work, seed):
    with open(work / RUN_NAME / f'seed{seed}' / 'test_metrics.json') as f:
        return json.load(f)


def test_table_is_mean_and_sample_std_of_the_runs(two_seeds):
    work, _ = two_seeds
    table = json.loads((work / 'table.json').read_text())
    (row, ) = table['rows']
    assert row['config'] == 'tests/fixtures/tiny_digits_lt.py'
    assert row['seeds'] == list(SEEDS)
    for key in ('top1', 'ece', 'rank_many', 'rank_few', 'threshold_medium'):
        a, b = (_test_json(work, s)[f'lt/{key}'] for s in SEEDS)
        assert row['mean'][key] == pytest.approx((a + b) / 2)
        # sample std of two values: |a - b| / sqrt(2)
        assert row['std'][key] == pytest.approx(abs(a - b) / math.sqrt(2))
    # both rules are in the test JSON, with their group sizes (10 classes:
    # MiSLAS ranks 3 / 4 / 3; the tiny config's thresholds 15 / 5)
    metrics = _test_json(work, 0)
    assert [metrics[f'lt/num_rank_{g}'] for g in results_table.GROUPS] == \
        [3, 4, 3]
    assert sum(metrics[f'lt/num_threshold_{g}']
               for g in results_table.GROUPS) == 10
    md = (work / 'table.md').read_text()
    assert f"{row['mean']['top1']:.2f} ± {row['std']['top1']:.2f}" in md
    assert results_table.BEST_TITLE in md
    assert table['hardware']['cpu_count'] == os.cpu_count()
    # the runs of the fixture are float32, NCHW, on the CPU's threads
    assert row['hardware'] == [
        f"{table['hardware']['cpu']} ({table['hardware']['threads']} "
        'threads), fp32']


def test_best_test_epoch_is_best_stage2_validation(two_seeds):
    work, _ = two_seeds
    table = json.loads((work / 'table.json').read_text())
    for run in table['runs']:
        run_dir = work / RUN_NAME / f"seed{run['seed']}"
        history = results_table.read_val_history(str(run_dir))
        # validated after each stage-2 epoch (3 and 4), nothing before:
        # val_interval is 4, the protocol adds epoch 3
        assert [epoch for epoch, _ in history] == [3, 4]
        best = max(history, key=lambda item: item[1]['lt/top1'])
        assert run['best_test_epoch']['top1'] == pytest.approx(
            best[1]['lt/top1'])
        # the final-epoch test is the epoch-4 validation
        assert run['metrics']['lt/top1'] == pytest.approx(
            history[-1][1]['lt/top1'])
        assert list(run_dir.glob('best_lt_top1_epoch_*.pth'))


def _start_runner(work, config, log, **env):
    return subprocess.Popen(
        tool_command('benchmarks/run_table.py', *_runner_args(
            work, config, extra=['--seeds', '0'])),
        cwd=REPO, env=tool_env(**env), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)


def test_killed_run_resumes_then_is_skipped(tmp_path, two_seeds):
    marker = tmp_path / 'paused'
    (tmp_path / 'configs' / 'tiny').mkdir(parents=True)
    config = write_config(tmp_path / 'configs' / 'tiny' / 'paused.py', (
        "custom_imports = dict(imports=['lcreg', 'pause_hook'], "
        'allow_failed_imports=False)\n'
        'default_hooks = dict(pause=dict(type="PauseAtIterHook", '
        "iteration=int('{{$PAUSE_AT:0}}'), marker=%r))\n" % str(marker)))
    work = tmp_path / 'work'
    log = open(tmp_path / 'runner.log', 'w')
    # iteration 10 of 7 per epoch: in epoch 2, after epoch_1.pth
    proc = _start_runner(work, config, log, PAUSE_AT=10)
    deadline = time.time() + 300
    while not marker.exists():
        assert proc.poll() is None, (tmp_path / 'runner.log').read_text()
        assert time.time() < deadline, 'the run never reached the pause'
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its train.py
    proc.wait()
    log.close()
    run_dir = work / 'tiny' / 'paused' / 'seed0'
    manifest = json.loads((run_dir / 'run.json').read_text())
    assert manifest['status'] == 'training'
    assert (run_dir / 'epoch_1.pth').exists()
    assert not (run_dir / 'epoch_2.pth').exists()

    again = run_tool('benchmarks/run_table.py', *_runner_args(
        work, config, extra=['--seeds', '0']), timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    manifest = json.loads((run_dir / 'run.json').read_text())
    assert manifest['status'] == 'finished'
    assert [s['resumed'] for s in manifest['segments']] == [False, True]
    assert manifest['segments'][0]['end_from_checkpoint_time']
    assert 'Resumed' in (run_dir / 'train_output.log').read_text() or \
        'resumed' in (run_dir / 'train_output.log').read_text().lower()
    # the resumed run ends where the uninterrupted one (same seed) ends
    resumed = json.loads((run_dir / 'test_metrics.json').read_text())
    reference = _test_json(two_seeds[0], 0)
    for key in ('lt/top1', 'lt/ece', 'lt/per_class'):
        assert resumed[key] == pytest.approx(reference[key])

    third = run_tool('benchmarks/run_table.py', *_runner_args(
        work, config, extra=['--seeds', '0']), timeout=300)
    assert third.returncode == 0, third.stderr
    assert 'finished, skipped' in third.stdout
    assert len(json.loads((run_dir / 'run.json').read_text())[
        'segments']) == 2

    # damaged test JSON of a finished run: one clear error, then --retest
    (run_dir / 'test_metrics.json').write_text('{"lt/top1": ')
    bad = run_tool('benchmarks/run_table.py', *_runner_args(
        work, config, extra=['--seeds', '0']), timeout=300)
    assert bad.returncode == 2
    line = last_line(bad.stderr)
    assert line.startswith('error: run_table: ')
    assert str(run_dir / 'test_metrics.json') in line
    assert '--retest' in line
    fixed = run_tool('benchmarks/run_table.py', *_runner_args(
        work, config, extra=['--seeds', '0', '--retest']), timeout=300)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads((run_dir / 'test_metrics.json').read_text())[
        'lt/top1'] == pytest.approx(resumed['lt/top1'])


def test_bad_input_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r'--seeds lists \[1\] more than'):
        TableRunner([str(TINY_CONFIG)], [0, 1, 1], str(tmp_path))
    with pytest.raises(ValueError, match='config nope.py does not exist'):
        TableRunner(['nope.py'], [0], str(tmp_path))
    # a folder holding a run of another config under the same run name
    run_dir = tmp_path / RUN_NAME / 'seed0'
    run_dir.mkdir(parents=True)
    (run_dir / 'run.json').write_text(json.dumps(
        dict(config='configs/other/tiny_digits_lt.py', seed=0)))
    runner = TableRunner([str(TINY_CONFIG)], [0], str(tmp_path),
                         dry_run=True, log=lambda text: None)
    with pytest.raises(ValueError, match='holds a run of configs/other/tiny'):
        runner.run()


def test_cli_bad_input_exits_2(tmp_path):
    proc = run_tool('benchmarks/run_table.py', str(TINY_CONFIG), '--seeds',
                    '3', '3', '--work-dir', str(tmp_path), timeout=120)
    assert proc.returncode == 2
    assert last_line(proc.stderr) == (
        'error: run_table: --seeds lists [3] more than once; give each seed '
        'once.')


def test_dry_run_writes_nothing_and_prints_the_commands(tmp_path):
    lines = []
    runner = TableRunner([str(REPO / 'configs/lcreg/resnet32_cifar10-lt-'
                              'if100.py')], [0, 2], str(tmp_path / 'w'),
                         data_root='/data/c10', verify_md5=False, amp=True,
                         channels_last=True, workers=0, best_test_epoch=True,
                         dry_run=True, log=lines.append)
    runner.run()
    assert not (tmp_path / 'w').exists()
    train = [line for line in lines if 'tools/train.py' in line]
    assert len(train) == 2
    assert '--amp --channels-last --cfg-options randomness.seed=2' in train[1]
    for option in ('train_dataloader.dataset.data_root=/data/c10',
                   'val_evaluator.train_dataset.verify_md5=False',
                   'train_dataloader.num_workers=0',
                   # stage 2 starts after epoch 200: validate from 201 on
                   '+train_cfg.dynamic_intervals=[(202,1)]',
                   '+default_hooks.checkpoint.save_best=lt/top1'):
        assert option in train[0]
    test = [line for line in lines if 'tools/test.py' in line]
    assert test[0].split()[4].endswith('seed0/epoch_210.pth')


def test_aggregation_by_hand():
    assert results_table.mean_std([80.0, 82.0, 84.0]) == (82.0, 2.0)
    mean, std = results_table.mean_std([70.0])
    assert mean == 70.0 and math.isnan(std)
    assert results_table.mean_std([1.0, math.nan, 3.0]) == (
        2.0, pytest.approx(math.sqrt(2)))
    runs = [dict(config='a.py', seed=s, metrics={'lt/top1': t,
                                                 'lt/rank_few': f},
                 best_test_epoch=dict(epoch=9, top1=t + 1),
                 train_seconds=600.0, test_seconds=60.0, hardware='cpu')
            for s, t, f in ((0, 80.0, 70.0), (1, 84.0, 74.0))]
    (row, ) = results_table.aggregate(runs)
    assert row['mean']['top1'] == 82.0
    assert row['std']['top1'] == pytest.approx(math.sqrt(8))
    assert row['mean']['best_top1'] == 83.0
    assert row['mean']['wall_minutes'] == 11.0
    assert math.isnan(row['mean']['threshold_few'])
    md = results_table.format_markdown([row])
    assert '| `a.py` | 0, 1 | 82.00 ± 2.83 |' in md
    assert 'n/a / n/a / 72.00 ± 2.83' in md


def test_val_history_merges_resumed_segments(tmp_path):
    for stamp, lines in (('20260101_000000', [
            {'lr': 0.1, 'step': 5},
            {'lt/top1': 50.0, 'step': 10},
            {'lt/top1': 55.0, 'step': 11}]),
            ('20260101_010000', [{'lt/top1': 56.0, 'step': 11},
                                 {'lt/top1': 54.0, 'step': 12}])):
        folder = tmp_path / stamp / 'vis_data'
        folder.mkdir(parents=True)
        text = '\n'.join(json.dumps(r) for r in lines) + '\n{"lt/top1": 9'
        (folder / 'scalars.json').write_text(text)  # last line cut by a kill
    history = results_table.read_val_history(str(tmp_path))
    assert [(e, r['lt/top1']) for e, r in history] == [
        (10, 50.0), (11, 56.0), (12, 54.0)]
    assert results_table.best_test_epoch(history, 10) == (11, 56.0)
    assert results_table.best_test_epoch(history, 12) is None


def test_precision_label():
    from lcreg.benchmarks.hardware import precision_label
    assert precision_label(False, False, 'cpu') == 'fp32'
    assert precision_label(True, True, 'cpu') == 'bf16, channels-last'
    assert precision_label(True, False, 'cuda') == 'fp16'


def test_best_test_epoch_all_validates_every_epoch(tmp_path):
    """``--best-test-epoch all`` (MiSLAS' protocol in both stages): the runs
    validate every epoch; the best column still covers the final stage."""
    lines = []
    TableRunner([str(REPO / 'configs/mislas/resnet32_cifar10-lt-if100.py'),
                 str(REPO / 'configs/baselines/resnet32_cifar10-lt-if100_'
                     'ce.py')], [0], str(tmp_path / 'w'),
                best_test_epoch='all', dry_run=True,
                log=lines.append).run()
    train = [line for line in lines if 'tools/train.py' in line]
    assert all(' train_cfg.val_interval=1 ' in line for line in train)
    assert not any('dynamic_intervals' in line for line in train)
    runner = TableRunner([str(TINY_CONFIG)], [0], str(tmp_path / 'w'),
                         best_test_epoch='all', dry_run=True, log=len)
    (spec, ) = runner.specs
    assert (spec.stage1_epochs, spec.best_begin) == (2, 2)
    with pytest.raises(ValueError, match="best_test_epoch must be one of"):
        TableRunner([str(TINY_CONFIG)], [0], str(tmp_path), log=len,
                    best_test_epoch='every')


def test_stage1_columns_from_the_validations(tmp_path):
    """A finished run's record: stage 1 final = the validation after the last
    stage-1 epoch, stage 1 best = the best validated stage-1 epoch, the best
    test epoch = the best of the final stage (values by hand)."""
    runner = TableRunner([str(TINY_CONFIG)], [0], str(tmp_path),
                         best_test_epoch='all', log=len)
    (spec, ) = runner.specs
    run_dir = tmp_path / RUN_NAME / 'seed0'
    (run_dir / '20260101_000000' / 'vis_data').mkdir(parents=True)
    top1 = {1: 36.0, 2: 35.0, 3: 41.0, 4: 40.0}
    (run_dir / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
        ''.join(json.dumps({'lt/top1': t, 'step': e}) + '\n'
                for e, t in top1.items()))
    (run_dir / 'test_metrics.json').write_text(json.dumps(
        {'lt/top1': 40.0, 'lt/ece': 3.0}))
    (run_dir / 'run.json').write_text(json.dumps(dict(
        config='tests/fixtures/tiny_digits_lt.py', seed=0,
        status='finished', segments=[], best_begin=spec.best_begin,
        best_test_epoch='all', stage1_epochs=spec.stage1_epochs)))
    (record, ) = runner.run()
    assert record['stage1'] == dict(epochs=2, final=35.0, best_epoch=1,
                                    best=36.0, validated=2)
    assert record['best_test_epoch'] == dict(epoch=3, top1=41.0)
    md = (tmp_path / 'table.md').read_text()
    assert results_table.STAGE1_TITLE in md
    assert '| 41.00 | 35.00 / 36.00 |' in md
    # a one-stage run has no stage-1 columns
    assert results_table.stage1_summary(
        results_table.read_val_history(str(run_dir)), None) is None
