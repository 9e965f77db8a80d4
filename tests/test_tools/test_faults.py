"""Faults during training, through the real tools on the CPU.

* a run killed (SIGKILL) in the middle of an epoch, twice, and resumed with
  ``--resume`` (auto mode, ``last_checkpoint``) ends with the weights and
  optimizer state of an uninterrupted run, bit for bit (EpochSeedHook; the
  tiny run uses RandomCrop + Mixup in stage 1 and class-aware sampling in
  stage 2, and one kill lands in each stage);
* a non-finite loss stops the run with the iteration and the loss terms,
  and the checkpoint saved before it still loads;
* a checkpoint whose pickle would run code is refused by test.py and by
  train.py --resume, and the code does not run;
* a file that is no checkpoint (a text file, a truncated copy) gives one
  line naming the file, from the loader and from test.py (exit 2).

The killed runs and the uninterrupted reference are subprocesses; the
other runs call the tools' ``cli`` in this process (fixtures/tool_runs.py).
"""
import os
import time

import pytest
import torch

from fixtures.tool_runs import (TINY_CONFIG, last_line, run_in_process,
                                start_tool, write_config)
from lcreg.engine.runner.safe_checkpoint import load_checkpoint_file

ITERS_PER_EPOCH = 7  # 97 images, batch 16


def _wait_for(path, proc, timeout=240):
    """Wait until ``path`` exists; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f'the run ended (status {proc.returncode}) '
                                 f'before writing {path}')
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f'{path} not written in {timeout} s')
        time.sleep(0.05)


def _kill_at(tmp_path, name, iteration, *args):
    """Start tools/train.py with a hook that freezes after ``iteration``,
    SIGKILL it there, and return the run's output."""
    marker = tmp_path / f'{name}.paused'
    config = write_config(
        tmp_path / f'{name}.py',
        "custom_imports = dict(imports=['lcreg', 'pause_hook'], "
        'allow_failed_imports=False)\n'
        f'default_hooks = dict(pause=dict(type="PauseAtIterHook", '
        f'iteration={iteration}, marker={str(marker)!r}))\n')
    log = tmp_path / f'{name}.log'
    proc = start_tool('train.py', config, *args, log_to=log)
    try:
        _wait_for(marker, proc)
    finally:
        proc.kill()  # SIGKILL: no handler, no clean-up runs
        proc.wait(timeout=60)
    assert proc.returncode == -9
    return log.read_text()


def _checkpoint(path):
    return load_checkpoint_file(str(path), map_location='cpu')


def _assert_same_tensors(a, b, what):
    assert a.keys() == b.keys(), what
    for key in a:
        if isinstance(a[key], dict):
            _assert_same_tensors(a[key], b[key], f'{what}.{key}')
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), f'{what}.{key} differs'
        else:
            assert a[key] == b[key], f'{what}.{key} differs'


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path, capsys):
    uninterrupted_dir = tmp_path / 'uninterrupted'
    work = tmp_path / 'killed'
    reference = start_tool('train.py', TINY_CONFIG, '--work-dir',
                           uninterrupted_dir,
                           log_to=tmp_path / 'uninterrupted.log')
    try:
        # Kill 1: epoch 2 (stage 1, mixup), after 3 of its 7 iterations.
        _kill_at(tmp_path, 'kill1', ITERS_PER_EPOCH + 3, '--work-dir', work)
        assert (work / 'epoch_1.pth').is_file()
        assert not (work / 'epoch_2.pth').exists()
        assert (work / 'last_checkpoint').read_text().strip() == str(
            work / 'epoch_1.pth')

        # Resume (auto: work_dir/last_checkpoint); kill 2 in epoch 4
        # (stage 2, resumed inside the stage from epoch_3.pth below).
        out = _kill_at(tmp_path, 'kill2', 3 * ITERS_PER_EPOCH + 3,
                       '--work-dir', work, '--resume')
        assert ('Auto resumed from the latest checkpoint '
                f"{work / 'epoch_1.pth'}") in out
        assert 'resumed epoch: 1, iter: 7' in out
        assert (work / 'epoch_3.pth').is_file()
        assert not (work / 'epoch_4.pth').exists()

        # Resume to the end (in this process: the same tool, no start-up).
        assert run_in_process('train', TINY_CONFIG, '--work-dir', work,
                              '--resume') == 0
        out = capsys.readouterr()
        assert 'resumed epoch: 3, iter: 21' in out.out + out.err
    finally:
        reference.wait(timeout=600)
    assert reference.returncode == 0, (
        tmp_path / 'uninterrupted.log').read_text()[-3000:]

    resumed = _checkpoint(work / 'epoch_4.pth')
    straight = _checkpoint(uninterrupted_dir / 'epoch_4.pth')
    assert resumed['meta']['epoch'] == straight['meta']['epoch'] == 4
    assert resumed['meta']['iter'] == straight['meta']['iter'] == 28
    _assert_same_tensors(resumed['state_dict'], straight['state_dict'],
                         'state_dict')
    _assert_same_tensors(resumed['optimizer'], straight['optimizer'],
                         'optimizer')
    # and the run really trained: stage 1 moved the backbone
    first = _checkpoint(uninterrupted_dir / 'epoch_1.pth')['state_dict']
    key = 'backbone.conv1.weight'
    assert not torch.equal(first[key], resumed['state_dict'][key])


def test_non_finite_loss_stops_with_iteration_and_terms(tmp_path, capsys):
    """lr x 1e6 after epoch 1: the loss explodes in epoch 2."""
    config = write_config(tmp_path / 'diverge.py', (
        'param_scheduler = [dict(type="MultiStepLR", by_epoch=True, '
        'milestones=[1], gamma=1e6, begin=0, end=2)]\n'))
    work = tmp_path / 'work'
    assert run_in_process('train', config, '--work-dir', work) == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    line = last_line(err)
    ckpt = work / 'epoch_1.pth'
    assert line.startswith('error: non-finite loss at iteration '), err[-3000:]
    iteration = int(line.split('iteration ')[1].split(' ')[0])
    assert ITERS_PER_EPOCH < iteration <= 2 * ITERS_PER_EPOCH
    batch = iteration - ITERS_PER_EPOCH
    assert f'(epoch 2, batch {batch}/{ITERS_PER_EPOCH}): loss' in line
    assert '=nan' in line or '=inf' in line
    assert (f'The last checkpoint {ckpt} was saved before it and is '
            f'resumable (--resume {ckpt})') in line
    assert 'Lower the learning rate (optim_wrapper.optimizer.lr)' in line
    # stopped at once: no later checkpoint; the saved one loads, finite
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_1.pth']
    state = _checkpoint(ckpt)['state_dict']
    assert all(torch.isfinite(t).all() for t in state.values()
               if t.is_floating_point())


class _RunsShellCommand:
    """Pickles as ``os.system(command)``: unpickling it runs the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.fixture
def evil_checkpoint(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'evil.pth'
    torch.save(dict(meta=dict(epoch=1, iter=7),
                    state_dict=dict(w=torch.zeros(1)),
                    payload=_RunsShellCommand(f'touch {marker}')), path)
    return path, marker


def _assert_refused(err, path):
    assert 'Traceback' not in err
    line = last_line(err)
    assert line.startswith(f'error: refusing to load checkpoint {path}: it '
                           "needs the globals ['posix.system']"), err[-3000:]
    assert 'could run arbitrary code' in line


def test_malicious_checkpoint_refused_by_test_tool(tmp_path, evil_checkpoint,
                                                   capsys):
    path, marker = evil_checkpoint
    assert run_in_process('test', TINY_CONFIG, path, '--work-dir',
                          tmp_path / 'work') == 2
    _assert_refused(capsys.readouterr().err, path)
    assert not marker.exists()


def test_malicious_checkpoint_refused_by_train_resume(tmp_path,
                                                      evil_checkpoint,
                                                      capsys):
    path, marker = evil_checkpoint
    assert run_in_process('train', TINY_CONFIG, '--work-dir',
                          tmp_path / 'work', '--resume', path) == 2
    _assert_refused(capsys.readouterr().err, path)
    assert not marker.exists()
    assert not list((tmp_path / 'work').glob('*.pth'))


def _truncated_checkpoint(tmp_path):
    whole = tmp_path / 'whole.pth'
    torch.save(dict(meta=dict(epoch=1),
                    state_dict=dict(w=torch.arange(64.0).reshape(8, 8))),
               whole)
    data = whole.read_bytes()
    path = tmp_path / 'truncated.pth'
    path.write_bytes(data[:len(data) // 2])
    return path


def _assert_not_a_checkpoint(message, path):
    assert message.startswith(f'{path} is not a PyTorch checkpoint (or is '
                              'damaged/truncated): '), message
    assert '\x1b' not in message and '\n' not in message
    assert 'refusing' not in message and 'weights_only' not in message


@pytest.mark.parametrize('text', [
    'hello, not a checkpoint\n',
    # 'c' is pickle's GLOBAL opcode: torch then asks for an unlisted global
    'checkpoint: work_dirs/run/epoch_3.pth\nsaved by tools/train.py\n',
])
def test_text_file_is_not_a_checkpoint(tmp_path, text):
    path = tmp_path / 'notes.txt'
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_checkpoint_file(str(path))
    _assert_not_a_checkpoint(str(err.value), path)
    assert f'a text file starting with {text.splitlines()[0]!r}' in str(
        err.value)


def test_truncated_checkpoint_is_named(tmp_path):
    path = _truncated_checkpoint(tmp_path)
    with pytest.raises(ValueError) as err:
        load_checkpoint_file(str(path), map_location='cpu')
    _assert_not_a_checkpoint(str(err.value), path)
    assert 'truncated copy' in str(err.value)
    # the whole file still loads
    whole = load_checkpoint_file(str(tmp_path / 'whole.pth'))
    assert whole['meta'] == dict(epoch=1)


def test_truncated_checkpoint_is_a_user_error_of_test_tool(tmp_path, capsys):
    path = _truncated_checkpoint(tmp_path)
    assert run_in_process('test', TINY_CONFIG, path, '--work-dir',
                          tmp_path / 'work') == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    line = last_line(err)
    assert line.startswith('error: '), err[-3000:]
    _assert_not_a_checkpoint(line[len('error: '):], path)
