"""LatentISDALoss (eq. 5–6): augmentation term, λ, gradients, AMP."""
import math

import pytest
import torch
import torch.nn.functional as F

from lcreg.models.losses import LatentISDALoss
from lcreg.models.losses.latent_isda_loss import augmentation_variance
from mmpretrain.registry import MODELS

W_EYE = torch.eye(2)
B_ZERO = torch.zeros(2)
# U[b, m]: category 0 gets (0, 2), (2, 0) → μ = (1, 1), Σ = [[1, −1], [−1, 1]];
# category 1 gets (1, 0), (1, 2) → μ = (1, 1), Σ = [[0, 0], [0, 1]].
U_HAND = torch.tensor([[[0., 2.], [1., 0.]], [[2., 0.], [1., 2.]]])


def test_augmentation_variance_full_by_hand():
    weight = torch.eye(2)  # w_1 − w_0 = (−1, 1)
    cov = torch.tensor([[[2., 1.], [1., 3.]], [[1., 0.], [0., 4.]]])
    # m=0: (−1,1)Σ_0(−1,1)ᵀ = 2 − 1 − 1 + 3 = 3; m=1: (1,−1)Σ_1(1,−1)ᵀ = 5.
    torch.testing.assert_close(augmentation_variance(weight, cov),
                               torch.tensor([[0., 3.], [5., 0.]]))


def test_augmentation_variance_diag_by_hand():
    weight = torch.eye(2)
    var = torch.tensor([[2., 3.], [1., 0.5]])
    # m=0: 1·2 + 1·3 = 5; m=1: 1·1 + 1·0.5 = 1.5.
    torch.testing.assert_close(augmentation_variance(weight, var),
                               torch.tensor([[0., 5.], [1.5, 0.]]))


def test_augmentation_variance_matches_naive_loops():
    g = torch.Generator().manual_seed(0)
    M, D = 5, 7
    weight = torch.randn(M, D, generator=g)
    root = torch.randn(M, D, D, generator=g)
    cov = root @ root.transpose(1, 2)
    expected = torch.zeros(M, M)
    for m in range(M):
        for j in range(M):
            d = weight[j] - weight[m]
            expected[m, j] = d @ cov[m] @ d
    torch.testing.assert_close(augmentation_variance(weight, cov), expected,
                               rtol=1e-4, atol=1e-4)
    diag = cov.diagonal(dim1=1, dim2=2)
    torch.testing.assert_close(
        augmentation_variance(weight, diag),
        augmentation_variance(weight, torch.diag_embed(diag)),
        rtol=1e-4, atol=1e-4)


def _hand_loss(offsets):
    """Mean CE over the four samples of U_HAND with W = I, b = 0."""
    total = 0.
    for b in range(2):
        for m in range(2):
            z = U_HAND[b, m] + torch.tensor(offsets[m])
            total += (torch.logsumexp(z, 0) - z[m]).item()
    return total / 4


@pytest.mark.parametrize('cov_type,sigma2', [
    # full: m=0: (−1,1)[[1,−1],[−1,1]](−1,1)ᵀ = 4,
    #       m=1: (1,−1)[[0,0],[0,1]](1,−1)ᵀ = 1
    ('full', [[0., 4.], [1., 0.]]),
    # diag: m=0: 1 + 1 = 2, m=1: 0 + 1 = 1
    ('diag', [[0., 2.], [1., 0.]]),
])
def test_loss_with_augmentation_by_hand(cov_type, sigma2):
    loss = LatentISDALoss(2, 2, loss_weight=1.0, lambda0=1.0,
                          cov_type=cov_type)
    loss.set_progress(0.5)  # λ = 0.5 → offsets λ/2·σ² = σ²/4
    value = loss(U_HAND, W_EYE, B_ZERO)
    offsets = [[s / 4 for s in row] for row in sigma2]
    assert value.item() == pytest.approx(_hand_loss(offsets), rel=1e-6)
    if cov_type == 'full':  # the same number written out by hand
        expected = (math.log1p(math.exp(3)) + math.log1p(math.exp(-1))
                    + math.log1p(math.exp(1.25))
                    + math.log1p(math.exp(-0.75))) / 4
        assert value.item() == pytest.approx(expected, rel=1e-6)


def test_lambda_zero_equals_plain_cross_entropy():
    g = torch.Generator().manual_seed(0)
    B, M, D = 4, 3, 5
    U = torch.randn(B, M, D, generator=g)
    W, b = torch.randn(M, D, generator=g), torch.randn(M, generator=g)
    loss = LatentISDALoss(M, D, loss_weight=0.3, lambda0=0.0)
    loss.set_progress(1.0)
    expected = F.cross_entropy((U @ W.t() + b).reshape(B * M, M),
                               torch.arange(M).repeat(B))
    assert loss(U, W, b).item() == pytest.approx(0.3 * expected.item(),
                                                 rel=1e-6)
    # λ0 > 0 but progress 0 (no schedule hook ran): also plain CE.
    unscheduled = LatentISDALoss(M, D, loss_weight=0.3, lambda0=0.5)
    assert unscheduled.strength == 0
    assert unscheduled(U, W, b).item() == pytest.approx(
        0.3 * expected.item(), rel=1e-6)
    # and the augmentation does change it once λ > 0
    unscheduled.set_progress(1.0)
    assert unscheduled(U, W, b).item() > 0.3 * expected.item() + 1e-4


def test_gradients_reach_weight_bias_and_features_not_covariance():
    g = torch.Generator().manual_seed(1)
    U = torch.randn(4, 3, 5, generator=g, requires_grad=True)
    W = torch.randn(3, 5, generator=g, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    grads = {}
    for progress in (0.0, 1.0):
        loss = LatentISDALoss(3, 5, lambda0=2.0)
        loss.set_progress(progress)
        (gw, gb, gu) = torch.autograd.grad(loss(U, W, b), (W, b, U))
        assert all(g.abs().sum() > 0 for g in (gw, gb, gu))
        cov = loss.estimator.covariance
        assert not cov.requires_grad and cov.grad_fn is None
        grads[progress] = gw
    # The augmentation term (λ > 0) adds a gradient into W_lat.
    assert not torch.allclose(grads[0.0], grads[1.0])


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_float32_under_autocast(dtype):
    g = torch.Generator().manual_seed(2)
    U = torch.randn(4, 3, 8, generator=g) * 300  # U·Wᵀ, σ² beyond fp16
    W = torch.randn(3, 8, generator=g) * 300
    b = torch.randn(3, generator=g)
    loss = LatentISDALoss(3, 8, loss_weight=1.0, lambda0=1e-3)
    loss.set_progress(1.0)
    with torch.autocast('cpu', dtype=dtype):
        value = loss(U.to(dtype), W, b)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    # Equal to the float32 computation on the same (rounded) input.
    reference = LatentISDALoss(3, 8, loss_weight=1.0, lambda0=1e-3)
    reference.set_progress(1.0)
    torch.testing.assert_close(value, reference(U.to(dtype).float(), W, b))
    torch.testing.assert_close(loss.estimator.covariance,
                               reference.estimator.covariance)


def test_set_progress_and_config_errors():
    loss = MODELS.build(dict(type='LatentISDALoss', num_latents=2,
                             in_channels=4, lambda0=0.5))
    assert loss.cov_type == 'full'
    loss.set_progress(0.5)
    assert loss.strength == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        loss.set_progress(1.5)
    big = LatentISDALoss(2, 1024)
    assert big.cov_type == 'diag'
    assert big.estimator.covariance.shape == (2, 1024)
    with pytest.raises(ValueError, match='cov_type'):
        LatentISDALoss(2, 4, cov_type='dense')
    with pytest.raises(ValueError, match='lambda0'):
        LatentISDALoss(2, 4, lambda0=-1)
    with pytest.raises(ValueError, match='B×2×4'):
        loss(torch.zeros(3, 2, 5), torch.zeros(2, 5), None)
