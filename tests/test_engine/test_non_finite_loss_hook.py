"""NonFiniteLossHook: stop at the first NaN/Inf loss term, say where."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import CheckpointHook

from lcreg.engine.hooks import NonFiniteLossHook
from lcreg.engine.hooks.non_finite_loss_hook import non_finite_terms


def _runner(work_dir, iteration=9, epoch=1, batches=7, hooks=()):
    loop = SimpleNamespace(dataloader=[None] * batches)
    return SimpleNamespace(iter=iteration, epoch=epoch, work_dir=str(work_dir),
                           train_loop=loop, hooks=list(hooks))


def test_finite_losses_pass(tmp_path):
    hook = NonFiniteLossHook()
    outputs = dict(loss=torch.tensor(2.5), loss_recon=torch.tensor(0.1),
                   loss_latent_aug=0.3)
    hook.after_train_iter(_runner(tmp_path), 2, outputs=outputs)
    hook.after_train_iter(_runner(tmp_path), 2, outputs=None)


def test_non_finite_terms_named_with_value():
    outputs = dict(loss=torch.tensor(float('nan')),
                   loss_recon=torch.tensor([1.0, float('-inf')]),
                   loss_cls=torch.tensor(0.5),
                   loss_weight=float('inf'),
                   accuracy=torch.tensor(float('nan')))  # not a loss term
    assert non_finite_terms(outputs) == [
        'loss=nan', 'loss_recon=-inf', 'loss_weight=inf']


def test_raises_with_iteration_epoch_terms_and_checkpoint(tmp_path):
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(ckpt))
    hook = NonFiniteLossHook()
    outputs = dict(loss=torch.tensor(float('nan')),
                   loss_cls=torch.tensor(1.0),
                   loss_recon=torch.tensor(float('nan')))
    with pytest.raises(FloatingPointError) as info:
        hook.after_train_iter(_runner(tmp_path, iteration=9, epoch=1), 2,
                              outputs=outputs)
    message = str(info.value)
    assert message.startswith(
        'non-finite loss at iteration 10 (epoch 2, batch 3/7): loss=nan, '
        'loss_recon=nan; training stopped. The last checkpoint '
        f'{ckpt} was saved before it and is resumable (--resume {ckpt})')
    assert f'load_from={ckpt}' in message
    assert 'Lower the learning rate (optim_wrapper.optimizer.lr)' in message


def test_checkpoint_hook_out_dir_is_searched(tmp_path):
    out_dir = tmp_path / 'elsewhere'
    out_dir.mkdir()
    ckpt = out_dir / 'epoch_3.pth'
    ckpt.write_bytes(b'x')
    (out_dir / 'last_checkpoint').write_text(str(ckpt))
    checkpoint_hook = CheckpointHook()
    checkpoint_hook.out_dir = str(out_dir)
    runner = _runner(tmp_path / 'work', hooks=[checkpoint_hook])
    with pytest.raises(FloatingPointError, match=f'checkpoint {ckpt} was'):
        NonFiniteLossHook().after_train_iter(
            runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))


def test_no_checkpoint_yet(tmp_path):
    with pytest.raises(FloatingPointError) as info:
        NonFiniteLossHook().after_train_iter(
            _runner(tmp_path, iteration=0, epoch=0), 0,
            outputs=dict(loss=torch.tensor(float('inf'))))
    assert 'iteration 1 (epoch 1, batch 1/7): loss=inf' in str(info.value)
    assert 'No checkpoint was saved before it' in str(info.value)


def test_runs_before_the_checkpoint_hook():
    """No checkpoint of the diverged epoch may be written first."""
    from mmengine.runner.priority import get_priority
    assert get_priority(NonFiniteLossHook.priority) < get_priority(
        CheckpointHook.priority)
