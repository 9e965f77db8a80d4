"""Tests of ScaledLinearClsHead (learnable weight scaling, tau-norm)."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lcreg  # noqa: F401  (registration)
from lcreg.models.heads import ScaledLinearClsHead, tau_norm_sweep


def make_head(**kwargs):
    head = MODELS.build(
        dict(type='ScaledLinearClsHead', num_classes=3, in_channels=2,
             **kwargs))
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[3.0, 4.0], [1.0, 0.0],
                                           [0.0, 2.0]]))
        head.fc.bias.copy_(torch.tensor([0.5, -1.0, 0.0]))
    return head


X = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
RAW = torch.tensor([[11.5, 0.0, 4.0], [-0.5, -2.0, 1.0]])  # W x + b by hand


def test_tau_zero_and_init_scale_leave_logits_unchanged():
    head = make_head()
    assert torch.equal(head.scale.data, torch.ones(3))
    assert torch.allclose(head((X, )), RAW)
    head.eval()
    assert torch.allclose(head((X, )), RAW)


def test_tau_one_uses_unit_norm_weights_in_eval_only():
    head = make_head(tau=1.0)
    # norms 5, 1, 2 -> rows (0.6, 0.8), (1, 0), (0, 1)
    expected = torch.tensor([[0.6 + 1.6 + 0.5, 1.0 - 1.0, 2.0],
                             [-0.6 + 0.4 + 0.5, -1.0 - 1.0, 0.5]])
    assert torch.allclose(head((X, )), RAW)  # training: raw weights
    head.eval()
    assert torch.allclose(head((X, )), expected)
    half = head.logits(X, tau=0.5)
    w_half = head.fc.weight / torch.tensor([[5.0], [1.0], [2.0]]).sqrt()
    assert torch.allclose(half, X @ w_half.t() + head.fc.bias)


def test_scale_applied_and_receives_gradient():
    head = make_head()
    with torch.no_grad():
        head.scale.copy_(torch.tensor([2.0, 0.5, -1.0]))
    logits = head((X, ))
    assert torch.allclose(logits, RAW * torch.tensor([2.0, 0.5, -1.0]))
    losses = head.loss((X, ), [DataSample().set_gt_label(1),
                               DataSample().set_gt_label(2)])
    losses['loss'].backward()
    assert head.scale.grad is not None
    assert head.scale.grad.abs().sum() > 0


def test_fixed_scale_gets_no_gradient():
    head = make_head(learnable_scale=False)
    assert not head.scale.requires_grad
    head.loss((X, ), [DataSample().set_gt_label(1),
                      DataSample().set_gt_label(2)])['loss'].backward()
    assert head.scale.grad is None


def test_loads_stage1_linear_head_checkpoint():
    stage1 = MODELS.build(dict(type='LinearClsHead', num_classes=3,
                               in_channels=2))
    head = make_head()
    missing, unexpected = head.load_state_dict(stage1.state_dict(),
                                               strict=False)
    assert missing == ['scale'] and unexpected == []
    assert torch.equal(head.fc.weight, stage1.fc.weight)


def test_tau_norm_sweep_picks_known_best():
    head = make_head()
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[10.0, 0.0], [0.0, 1.0],
                                           [0.0, 0.0]]))
        head.fc.bias.zero_()
        head.fc.bias[2] = -100.0  # class 2 never predicted
    # class-0 samples are right for tau <= 1, class-1 samples only for tau
    # >= 1 (class 0's weight norm 10 dominates them before): best tau = 1
    feats = torch.tensor([[1.0, 0.5], [1.0, 0.4], [0.5, 1.0], [0.4, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    best, scores = tau_norm_sweep(feats, labels, head, [0.0, 0.5, 1.0, 2.0],
                                  batch_size=3)
    assert best == 1.0
    assert scores == {0.0: 50.0, 0.5: 50.0, 1.0: 100.0, 2.0: 50.0}
    assert head.tau == 0.0  # the head is not modified
    with pytest.raises(ValueError, match='feats'):
        tau_norm_sweep(torch.zeros(4, 3), labels, head, [0.0])


def test_is_a_linear_cls_head():
    assert issubclass(ScaledLinearClsHead, MODELS.get('LinearClsHead'))
