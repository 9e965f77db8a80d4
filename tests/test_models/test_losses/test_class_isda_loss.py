"""Class-wise ISDA: the estimator per class and the loss by hand."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lcreg  # noqa: F401
from lcreg.models.losses import ClassISDALoss, LatentCovarianceEstimator


def test_membership_update_is_the_per_class_covariance():
    """Two batches; each class's Σ equals numpy's biased covariance of the
    samples of that class; a class absent from a batch keeps its values."""
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(6, 3)), np.array([0, 0, 1, 1, 1, 0])),
               (rng.normal(size=(4, 3)), np.array([1, 1, 1, 1]))]
    estimator = LatentCovarianceEstimator(3, 3, 'full')
    for x, y in batches:
        x = torch.tensor(x, dtype=torch.float32)
        member = torch.nn.functional.one_hot(torch.tensor(y), 3)
        estimator.update(x[:, None, :].expand(len(y), 3, 3), member)
    xs = np.concatenate([b[0] for b in batches])
    ys = np.concatenate([b[1] for b in batches])
    for c in (0, 1):
        np.testing.assert_allclose(
            estimator.covariance[c].numpy(),
            np.cov(xs[ys == c], rowvar=False, bias=True), atol=1e-5)
        np.testing.assert_allclose(estimator.mean[c].numpy(),
                                   xs[ys == c].mean(0), atol=1e-6)
    assert estimator.count.tolist() == [3, 7, 0]
    assert torch.equal(estimator.covariance[2], torch.zeros(3, 3))


def _loss(lambda0=1.0, progress=1.0):
    loss = ClassISDALoss(num_classes=2, in_channels=1, lambda0=lambda0)
    loss.set_progress(progress)
    return loss


# features a = 1, 3 (class 0) and 2 (class 1): Σ_0 = var(1, 3) = 1 (biased),
# Σ_1 = 0 (one sample). W = (1, -1), no bias, λ = 1:
# σ²[0, 1] = (w_1 - w_0)² Σ_0 = 4, σ²[1, 0] = 4·Σ_1 = 0.
#   a=1, y=0: z = (1, -1), z̃ = (1, -1 + 2) = (1, 1): CE = log 2
#   a=3, y=0: z = (3, -3), z̃ = (3, -1): CE = log(1 + e^-4) = 0.0181499
#   a=2, y=1: z = (2, -2), no shift: CE = log(1 + e^4) = 4.0181499
FEATS = torch.tensor([[1.0], [3.0], [2.0]])
WEIGHT = torch.tensor([[1.0], [-1.0]])
LABELS = torch.tensor([0, 0, 1])
HAND = (math.log(2) + 0.0181499 + 4.0181499) / 3


def test_class_isda_loss_by_hand():
    loss = _loss()
    assert loss(FEATS, WEIGHT, None, LABELS).item() == pytest.approx(
        HAND, abs=1e-5)
    assert loss.estimator.covariance[:, 0, 0].tolist() == pytest.approx(
        [1.0, 0.0])


def test_lambda_zero_is_cross_entropy_also_for_soft_targets():
    soft = torch.tensor([[0.7, 0.3], [0.0, 1.0], [0.5, 0.5]])
    logits = FEATS @ WEIGHT.t()
    expected = -(soft * logits.log_softmax(1)).sum(1).mean()
    got = _loss(progress=0.0)(FEATS, WEIGHT, None, soft)
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)


def test_soft_target_mixes_the_augmented_losses():
    # after the hand batch (Σ_0 = 1, Σ_1 = 0), a = 1 with target (0.5, 0.5):
    # class-0 term log 2 (as above), class-1 term -log softmax(1, -1)_1 =
    # log(1 + e^2) = 2.1269280; the covariance update of this sample goes
    # to class 0 (argmax, tie -> first) and changes Σ_0 to var(1, 3, 1)
    loss = _loss()
    loss(FEATS, WEIGHT, None, LABELS)
    # Σ_0 after adding a = 1: biased var of (1, 3, 1) = 8/9
    sigma0 = 8 / 9
    term0 = math.log(1 + math.exp(-2 + 2 * sigma0))  # z̃ = (1, -1 + 2Σ_0)
    term1 = math.log(1 + math.exp(2))
    got = loss(FEATS[:1], WEIGHT, None, torch.tensor([[0.5, 0.5]]))
    assert got.item() == pytest.approx(0.5 * term0 + 0.5 * term1, abs=1e-5)


def test_head_hands_features_and_scaled_weights_to_the_loss():
    head = MODELS.build(dict(
        type='ISDALinearClsHead', num_classes=2, in_channels=1,
        loss=dict(type='ClassISDALoss', lambda0=1.0)))
    assert (head.loss_module.num_classes, head.loss_module.in_channels) == \
        (2, 1)
    head.loss_module.set_progress(1.0)
    with torch.no_grad():
        head.fc.weight.copy_(WEIGHT)
        head.fc.bias.zero_()
    samples = [DataSample().set_gt_label(int(y)) for y in LABELS]
    assert head.loss((FEATS, ), samples)['loss'].item() == pytest.approx(
        HAND, abs=1e-5)
    # any other loss (stage 2's label-aware smoothing): the ClsHead path
    head.loss_module = MODELS.build(dict(type='CrossEntropyLoss'))
    ce = torch.nn.functional.cross_entropy(FEATS @ WEIGHT.t(), LABELS)
    assert head.loss((FEATS, ), samples)['loss'].item() == pytest.approx(
        ce.item(), abs=1e-6)


def test_lambda_schedule_hook_sees_the_class_loss():
    from lcreg.engine.hooks.latent_aug_schedule_hook import \
        LatentAugScheduleHook
    head = MODELS.build(dict(type='ISDALinearClsHead', num_classes=2,
                             in_channels=1))
    assert LatentAugScheduleHook._isda_losses(
        type('R', (), dict(model=head))()) == [head.loss_module]


def test_shape_errors():
    with pytest.raises(ValueError, match=r'features \(B, 1\)'):
        _loss()(torch.zeros(3, 2), WEIGHT, None, LABELS)
