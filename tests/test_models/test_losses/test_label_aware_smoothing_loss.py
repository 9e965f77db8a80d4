"""Tests of LabelAwareSmoothingLoss (MiSLAS label-aware smoothing)."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import lcreg  # noqa: F401  (registration)
from lcreg.models.losses import LabelAwareSmoothingLoss

# head (N_max), middle (x = 1/2), tail (N_min)
COUNTS = [100, 55, 10]
HEAD, TAIL = 0.4, 0.1


@pytest.mark.parametrize('shape, power, middle', [
    ('concave', None, 0.1 + 0.3 * math.sin(math.pi / 4)),
    ('linear', None, 0.1 + 0.3 * 0.5),
    ('convex', None, 0.1 + 0.3 * (1 - math.cos(math.pi / 4))),
    ('exp', 2.0, 0.1 + 0.3 * 0.25),
    ('exp', 0.5, 0.1 + 0.3 * math.sqrt(0.5)),
])
def test_smoothing_per_class(shape, power, middle):
    loss = LabelAwareSmoothingLoss(COUNTS, smooth_head=HEAD,
                                   smooth_tail=TAIL, shape=shape, power=power)
    expected = torch.tensor([HEAD, middle, TAIL])
    assert torch.allclose(loss.smoothing, expected, atol=1e-6)


def test_concave_is_default_and_ordering_of_shapes():
    def eps(shape, power=None):
        return LabelAwareSmoothingLoss(COUNTS, HEAD, TAIL, shape,
                                       power).smoothing[1].item()

    assert LabelAwareSmoothingLoss(COUNTS, HEAD, TAIL).shape == 'concave'
    assert eps('concave') > eps('linear') > eps('convex')


def test_equal_counts_give_head_smoothing():
    loss = LabelAwareSmoothingLoss([7, 7, 7], smooth_head=0.3,
                                   smooth_tail=0.0)
    assert torch.allclose(loss.smoothing, torch.full((3, ), 0.3))


def hand_loss(logits, label, eps):
    log_z = math.log(sum(math.exp(v) for v in logits))
    nll = [log_z - v for v in logits]
    return (1 - eps) * nll[label] + eps * sum(nll) / len(nll)


def test_loss_value_against_hand_computation():
    loss = LabelAwareSmoothingLoss(COUNTS, smooth_head=HEAD, smooth_tail=TAIL,
                                   loss_weight=2.0)
    scores = [[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]]
    labels = [0, 2]
    eps = [HEAD, TAIL]  # class 0 is the head, class 2 the tail
    per_sample = [hand_loss(s, y, e) for s, y, e in zip(scores, labels, eps)]
    cls_score = torch.tensor(scores)
    label = torch.tensor(labels)

    value = loss(cls_score, label)
    assert value.item() == pytest.approx(2.0 * sum(per_sample) / 2, rel=1e-6)
    none = loss(cls_score, label, reduction_override='none')
    assert torch.allclose(none, 2.0 * torch.tensor(per_sample), atol=1e-6)
    summed = loss(cls_score, label, reduction_override='sum')
    assert summed.item() == pytest.approx(2.0 * sum(per_sample), rel=1e-6)
    weighted = loss(cls_score, label, weight=torch.tensor([1.0, 0.0]),
                    avg_factor=4)
    assert weighted.item() == pytest.approx(2.0 * per_sample[0] / 4,
                                            rel=1e-6)
    # differs from plain cross-entropy (smoothing is really applied)
    ce = torch.nn.functional.cross_entropy(cls_score, label) * 2.0
    assert abs(value.item() - ce.item()) > 1e-3


def test_as_mmpretrain_head_loss():
    head = MODELS.build(
        dict(type='LinearClsHead', num_classes=3, in_channels=4,
             loss=dict(type='LabelAwareSmoothingLoss', class_counts=COUNTS,
                       smooth_head=HEAD, smooth_tail=TAIL)))
    from mmpretrain.structures import DataSample
    feats = (torch.randn(2, 4), )
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(2)]
    losses = head.loss(feats, samples)
    logits = head(feats)
    expected = sum(
        hand_loss(s.tolist(), y, e)
        for s, y, e in zip(logits, [0, 2], [HEAD, TAIL])) / 2
    assert losses['loss'].item() == pytest.approx(expected, rel=1e-5)
    losses['loss'].backward()
    assert head.fc.weight.grad is not None


def test_soft_labels_rejected():
    loss = LabelAwareSmoothingLoss(COUNTS, HEAD, TAIL)
    with pytest.raises(ValueError, match='Mixup'):
        loss(torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r'\(B, 3\)'):
        loss(torch.zeros(2, 4), torch.tensor([0, 1]))


@pytest.mark.parametrize('kwargs, match', [
    (dict(class_counts=None), 'class_counts is required'),
    (dict(class_counts=[]), 'empty'),
    (dict(class_counts=[5, 0, 3]), r'class_counts\[1\]'),
    (dict(class_counts=[5, -2]), r'class_counts\[1\]'),
    (dict(class_counts=[5, 2.5]), r'class_counts\[1\]'),
    (dict(class_counts=COUNTS, shape='cubic'), 'shape'),
    (dict(class_counts=COUNTS, shape='exp'), 'power'),
    (dict(class_counts=COUNTS, power=2.0), 'power'),
    (dict(class_counts=COUNTS, smooth_head=1.5), 'smooth_head'),
    (dict(class_counts=COUNTS, reduction='avg'), 'reduction'),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LabelAwareSmoothingLoss(**kwargs)


def test_smoothing_not_in_state_dict():
    loss = LabelAwareSmoothingLoss(COUNTS)
    assert 'smoothing' not in loss.state_dict()
