"""ReconstructionLoss (eq. 4): both norms by hand, gradients, AMP."""
import math

import pytest
import torch
import torch.nn.functional as F

from lcreg.models.losses import ReconstructionLoss
from lcreg.models.losses.reconstruction_loss import correlation
from mmpretrain.registry import MODELS

# One image, N = 2 positions, D = 2.
R_HAND = torch.tensor([[[1., 0.], [0., 1.]]])
X_HAND = torch.tensor([[[2., 0.], [0., 1.]]])


def test_correlation_by_hand():
    # C[n, n'] = R[n]·X[n']
    torch.testing.assert_close(correlation(R_HAND, X_HAND),
                               torch.tensor([[[2., 0.], [0., 1.]]]))
    # cosine: X rows normalise to e0, e1 → identity / 0.5
    torch.testing.assert_close(correlation(R_HAND, X_HAND, 'l2', 0.5),
                               torch.tensor([[[2., 0.], [0., 2.]]]))


def test_loss_norm_none_by_hand():
    loss = ReconstructionLoss(loss_weight=1.0, norm='none')
    # row 0: logits (2, 0), target 0; row 1: logits (0, 1), target 1
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2
    assert loss(R_HAND, X_HAND).item() == pytest.approx(expected, rel=1e-6)


def test_loss_norm_l2_by_hand():
    loss = MODELS.build(dict(type='ReconstructionLoss', loss_weight=0.5,
                             norm='l2', temperature=0.5))
    # both rows: logits (2, 0) with the right target
    expected = 0.5 * math.log1p(math.exp(-2))
    assert loss(R_HAND, X_HAND).item() == pytest.approx(expected, rel=1e-6)


def test_loss_is_mean_over_images_and_positions():
    g = torch.Generator().manual_seed(0)
    R, X = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    loss = ReconstructionLoss(loss_weight=1.0, norm='none')
    per_image = [F.cross_entropy(R[b] @ X[b].t(), torch.arange(4))
                 for b in range(3)]
    assert loss(R, X).item() == pytest.approx(
        torch.stack(per_image).mean().item(), rel=1e-5)


def test_gradients_reach_both_inputs():
    g = torch.Generator().manual_seed(1)
    R = torch.randn(2, 3, 4, generator=g, requires_grad=True)
    X = torch.randn(2, 3, 4, generator=g, requires_grad=True)
    for norm in ('none', 'l2'):
        gr, gx = torch.autograd.grad(ReconstructionLoss(norm=norm)(R, X),
                                     (R, X))
        assert gr.abs().sum() > 0 and gx.abs().sum() > 0


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('norm', ['none', 'l2'])
def test_float32_under_autocast(dtype, norm):
    g = torch.Generator().manual_seed(2)
    # Dot products ~ 300·300·16 ≈ 1.4e6 overflow float16 (max 65504).
    R = (torch.randn(2, 4, 16, generator=g) * 300).to(dtype)
    X = (torch.randn(2, 4, 16, generator=g) * 300).to(dtype)
    loss = ReconstructionLoss(loss_weight=1.0, norm=norm, temperature=0.01)
    with torch.autocast('cpu', dtype=dtype):
        value = loss(R, X)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    torch.testing.assert_close(value, loss(R.float(), X.float()))


def test_bad_arguments():
    with pytest.raises(ValueError, match='norm'):
        ReconstructionLoss(norm='l1')
    with pytest.raises(ValueError, match='temperature'):
        ReconstructionLoss(norm='l2', temperature=0)
    with pytest.raises(ValueError, match='B×N×D'):
        ReconstructionLoss()(torch.zeros(1, 2, 3), torch.zeros(1, 3, 3))


def test_default_is_cosine_over_temperature():
    """The default (decided by the ablation in the README): norm='l2',
    τ_r = 0.1, β = 0.1."""
    g = torch.Generator().manual_seed(2)
    R, X = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    loss = ReconstructionLoss()
    assert (loss.norm, loss.temperature, loss.loss_weight) == ('l2', 0.1, 0.1)
    cos = F.normalize(R, dim=-1) @ F.normalize(X, dim=-1).transpose(1, 2)
    expected = 0.1 * F.cross_entropy((cos / 0.1).reshape(6, 3),
                                     torch.arange(3).repeat(2))
    assert loss(R, X).item() == pytest.approx(expected.item(), rel=1e-6)
