"""Re-balancing losses of the baselines against values computed by hand.

Every expected number below is worked out in the comment next to it on
tensors of 1-3 samples and 2-3 classes.
"""
import math

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lcreg  # noqa: F401  (registration)
from lcreg.models.losses import (BalancedSoftmaxLoss, LDAMLoss,
                                 LogitAdjustedLoss, SoftmaxFocalLoss,
                                 class_balanced_weights)
from lcreg.models.losses.ldam_loss import ldam_margins


# ------------------------------------------------- class-balanced weights
def test_class_balanced_weights_by_hand():
    # β = 0.5, n = (3, 1): (1-β)/(1-β^n) = 0.5/0.875 = 4/7 and 0.5/0.5 = 1;
    # normalised to sum C = 2: 2·(4/7)/(11/7) = 8/11, 2·1/(11/7) = 14/11
    weights = class_balanced_weights([3, 1], beta=0.5)
    assert weights.tolist() == pytest.approx([8 / 11, 14 / 11], abs=1e-6)
    assert weights.sum().item() == pytest.approx(2.0)
    # β = 0: no re-weighting
    assert class_balanced_weights([500, 5, 1], 0.0).tolist() == \
        pytest.approx([1.0, 1.0, 1.0])
    # β = 0.9999 on LDAM-DRW's CIFAR-10-LT IF100 head and tail counts
    # (5000, 50): (1-β)/(1-β^n) = 1e-4/(1-0.9999^5000) = 1e-4/0.393476
    # and 1e-4/(1-0.9999^50) = 1e-4/0.0049878; ratio 78.89
    head, tail = class_balanced_weights([5000, 50], 0.9999).tolist()
    assert tail / head == pytest.approx(0.393476 / 0.0049878, rel=1e-4)


# ------------------------------------------------------------------ LDAM
def test_ldam_margins_by_hand():
    # n^(-1/4) of (16, 1) = (0.5, 1), rescaled to max 0.5: (0.25, 0.5)
    assert ldam_margins([16, 1], 0.5).tolist() == pytest.approx([0.25, 0.5])
    # (81, 16, 1) -> (1/3, 1/2, 1) · 0.5
    assert ldam_margins([81, 16, 1], 0.5).tolist() == pytest.approx(
        [1 / 6, 1 / 4, 1 / 2])


def _ldam(**kwargs):
    loss = LDAMLoss(class_counts=[16, 1], max_m=0.5, **kwargs)
    loss.set_logit_scale(2.0)  # s = 2: the margin on the logits is 2·m_y
    return loss


# sample A: label 1, s·cos = (0.4, 1.2); m_1 = 0.5 -> (0.4, 1.2 - 1.0):
#   CE = log(1 + e^(0.4-0.2)) = log(2.2214028) = 0.7981389
# sample B: label 0, s·cos = (1.0, 0.0); m_0 = 0.25 -> (1.0 - 0.5, 0.0):
#   CE = log(1 + e^(-0.5)) = log(1.6065307) = 0.4740770
SCORES = torch.tensor([[0.4, 1.2], [1.0, 0.0]])
LABELS = torch.tensor([1, 0])
CE_A, CE_B = 0.7981389, 0.4740770


def test_ldam_loss_by_hand():
    loss = _ldam()
    assert loss(SCORES, LABELS).item() == pytest.approx((CE_A + CE_B) / 2,
                                                        abs=1e-6)
    per_sample = loss(SCORES, LABELS, reduction_override='none')
    assert per_sample.tolist() == pytest.approx([CE_A, CE_B], abs=1e-6)


def test_ldam_weighted_mean_divides_by_the_weight_sum():
    # class weights (1, 3): (3·CE_A + 1·CE_B) / (3 + 1), as
    # F.cross_entropy(weight=w) in the official code; the batch size 2
    # that MMPretrain's head passes as avg_factor is not the divisor
    loss = _ldam(class_weight=[1.0, 3.0])
    expected = (3 * CE_A + CE_B) / 4
    assert loss(SCORES, LABELS, avg_factor=2).item() == pytest.approx(
        expected, abs=1e-6)
    assert expected != pytest.approx((3 * CE_A + CE_B) / 2)


def test_ldam_through_the_normed_head():
    head = MODELS.build(dict(
        type='NormedLinearClsHead', num_classes=2, in_channels=2, scale=2.0,
        loss=dict(type='LDAMLoss', max_m=0.5, class_counts=[16, 1])))
    assert head.loss_module.logit_scale == 2.0
    with torch.no_grad():  # rows normalised: (1, 0) and (0, 1)
        head.fc.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 0.5]]))
    # x = (3, 4): x/|x| = (0.6, 0.8): logits 2·(0.6, 0.8) = (1.2, 1.6)
    feats = (torch.tensor([[3.0, 4.0]]), )
    assert head(feats)[0].tolist() == pytest.approx([1.2, 1.6], abs=1e-6)
    # label 1: (1.2, 1.6 - 2·0.5) -> CE = log(1 + e^(1.2-0.6)) = 1.0374879
    losses = head.loss(feats, [DataSample().set_gt_label(1)])
    assert losses['loss'].item() == pytest.approx(1.0374879, abs=1e-6)


def test_ldam_refuses_a_head_that_is_not_normalised():
    head = MODELS.build(dict(
        type='LinearClsHead', num_classes=2, in_channels=2,
        loss=dict(type='LDAMLoss', class_counts=[16, 1])))
    with pytest.raises(ValueError, match='NormedLinearClsHead'):
        head.loss((torch.ones(1, 2), ), [DataSample().set_gt_label(1)])


# ------------------------------------------------------- logit adjustment
def test_logit_adjusted_loss_by_hand():
    # n = (3, 1): π = (0.75, 0.25). Zero logits: CE(τ·log π, y) =
    # -log(π_y^τ / Σ π^τ). τ = 1: -log 0.25 = 1.3862944, -log 0.75 = 0.2876821
    zeros = torch.zeros(2, 2)
    loss = LogitAdjustedLoss(tau=1.0, class_counts=[3, 1])
    assert loss(zeros, torch.tensor([1, 0]),
                reduction_override='none').tolist() == pytest.approx(
                    [1.3862944, 0.2876821], abs=1e-6)
    # τ = 2: π² = (0.5625, 0.0625) -> p_1 = 0.0625/0.625 = 0.1 -> 2.3025851
    loss = LogitAdjustedLoss(tau=2.0, class_counts=[3, 1])
    assert loss(zeros[:1], torch.tensor([1])).item() == pytest.approx(
        2.3025851, abs=1e-6)
    # τ = 0: plain CE, log 2
    loss = LogitAdjustedLoss(tau=0.0, class_counts=[3, 1])
    assert loss(zeros[:1], torch.tensor([1])).item() == pytest.approx(
        math.log(2), abs=1e-6)
    # soft target (0.5, 0.5), τ = 1: (1.3862944 + 0.2876821) / 2
    loss = LogitAdjustedLoss(tau=1.0, class_counts=[3, 1])
    assert loss(zeros[:1], torch.tensor([[0.5, 0.5]])).item() == \
        pytest.approx(0.8369882, abs=1e-6)


def test_balanced_softmax_by_hand():
    # n = (3, 1), logits (0, log 3): n·e^f = (3, 3) -> p_0 = 0.5 -> log 2
    loss = BalancedSoftmaxLoss(class_counts=[3, 1])
    score = torch.tensor([[0.0, math.log(3.0)]])
    assert loss(score, torch.tensor([0])).item() == pytest.approx(
        math.log(2), abs=1e-6)
    # the same as logit adjustment with τ = 1 (log n = log π + log N)
    scores = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5]])
    labels = torch.tensor([2, 1])
    balanced = BalancedSoftmaxLoss(class_counts=[50, 7, 2])
    adjusted = LogitAdjustedLoss(tau=1.0, class_counts=[50, 7, 2])
    assert balanced(scores, labels).item() == pytest.approx(
        adjusted(scores, labels).item(), abs=1e-6)


# ------------------------------------------------------------------ focal
def test_softmax_focal_loss_by_hand():
    # logits (0, 0), label 0: p = 0.5; γ = 2: -(0.5)²·log 0.5 = 0.1732868
    zeros = torch.zeros(1, 2)
    label = torch.tensor([0])
    assert SoftmaxFocalLoss(gamma=2.0)(zeros, label).item() == \
        pytest.approx(0.1732868, abs=1e-6)
    # γ = 0: cross-entropy log 2
    assert SoftmaxFocalLoss(gamma=0.0)(zeros, label).item() == \
        pytest.approx(math.log(2), abs=1e-6)
    # γ = 1, logits (log 3, 0): p_0 = 0.75: -0.25·log 0.75 = 0.0719205
    score = torch.tensor([[math.log(3.0), 0.0]])
    assert SoftmaxFocalLoss(gamma=1.0)(score, label).item() == \
        pytest.approx(0.0719205, abs=1e-6)
    # class-balanced: weights (1, 4), labels (0, 1) with logits 0, γ = 0:
    # (1·log 2 + 4·log 2) / (1 + 4) = log 2 (weighted mean of equal terms);
    # second sample with p_1 = 0.25 (logits (log 3, 0)): (log 2 +
    # 4·log 4) / 5 = 1.2476649
    loss = SoftmaxFocalLoss(gamma=0.0, class_weight=[1.0, 4.0])
    scores = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    assert loss(scores, torch.tensor([0, 1])).item() == pytest.approx(
        (math.log(2) + 4 * math.log(4)) / 5, abs=1e-6)


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize('build, match', [
    (lambda: LDAMLoss(max_m=0.0), r'max_m=0\.0 must be > 0'),
    (lambda: LDAMLoss(max_m=-1), 'max_m'),
    (lambda: LDAMLoss(class_counts=[5, 0, 3]), r'class_counts\[1\] = 0'),
    (lambda: LogitAdjustedLoss(tau=-0.5), r'tau=-0\.5 must be >= 0'),
    (lambda: LogitAdjustedLoss(class_counts=[]), 'class_counts is empty'),
    (lambda: BalancedSoftmaxLoss(class_counts=[4, 0]),
     r'class_counts\[1\] = 0'),
    (lambda: SoftmaxFocalLoss(gamma=-1), 'gamma'),
    (lambda: class_balanced_weights([3, 1], beta=1.0),
     r'beta=1\.0 must lie in \[0, 1\)'),
    (lambda: class_balanced_weights([3, 1], beta=-0.1), 'beta'),
    (lambda: MODELS.build(dict(type='NormedLinearClsHead', num_classes=2,
                               in_channels=2, scale=0)), 'scale'),
])
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize('loss', [
    LDAMLoss(), LogitAdjustedLoss(), BalancedSoftmaxLoss()])
def test_counts_not_set_is_one_clear_error(loss):
    if hasattr(loss, 'set_logit_scale'):
        loss.set_logit_scale(30.0)
    with pytest.raises(ValueError, match='class_counts is not set.*'
                       'ClassCountsHook'):
        loss(torch.zeros(1, 2), torch.tensor([0]))


def test_counts_of_another_length_are_refused():
    loss = LogitAdjustedLoss(class_counts=[3, 2, 1])
    with pytest.raises(ValueError, match='3 entries.*2 classes'):
        loss(torch.zeros(1, 2), torch.tensor([0]))


def test_ldam_refuses_soft_labels():
    with pytest.raises(ValueError, match='hard integer labels'):
        _ldam()(SCORES, torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
