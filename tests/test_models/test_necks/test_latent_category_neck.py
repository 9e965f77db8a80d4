"""LatentCategoryNeck: eq. 1–3, latent features, fusion, paths, AMP."""
import math

import pytest
import torch

from lcreg.models.losses import LatentISDALoss, ReconstructionLoss
from lcreg.models.necks import LatentCategoryNeck
from lcreg.models.necks.latent_category_neck import (assignment,
                                                     latent_features,
                                                     reconstruction,
                                                     similarity)
from mmpretrain.registry import MODELS


def sig(v):
    return 1 / (1 + math.exp(-v))


# ------------------------------------------------------------- equations
def test_similarity_eq1_by_hand():
    X = torch.tensor([[[1., 0.], [0., 2.]]])  # B=1, N=2, D=2
    Z = torch.tensor([[1., 1.], [0., -1.]])   # M=2
    # X·Zᵀ = [[1, 0], [2, −2]]
    expected = torch.tensor([[[sig(1), 0.5], [sig(2), sig(-2)]]])
    torch.testing.assert_close(similarity(X, Z), expected)


def test_assignment_eq2_by_hand():
    S = torch.tensor([[[0., math.log(3)]]])
    torch.testing.assert_close(assignment(S), torch.tensor([[[0.25, 0.75]]]))
    # τ_a = 0.5 doubles the logits: softmax(0, ln 3) again
    torch.testing.assert_close(assignment(S / 2, temperature=0.5),
                               torch.tensor([[[0.25, 0.75]]]))


@pytest.mark.parametrize('tau', [1.0, 0.25])
def test_assign_temperature_through_the_neck(tau):
    """``extract_latents`` applies the neck's τ_a: A = softmax(S / τ_a),
    with S = σ(X·Zᵀ) computed by hand (Z = P, proj set to the identity)."""
    neck = LatentCategoryNeck(in_channels=2, num_latents=2,
                              assign_temperature=tau)
    with torch.no_grad():
        neck.latent_pool.copy_(torch.tensor([[1., 1.], [0., -1.]]))
        neck.proj.weight.copy_(torch.eye(2))
        neck.proj.bias.zero_()
    # B=1, D=2, H=1, W=2: positions X = (1, 0) and (0, 2), as in eq. 1 above
    fmap = torch.tensor([[[[1., 0.]], [[0., 2.]]]])
    out = neck.extract_latents((fmap, ))
    rows = [[sig(1), 0.5], [sig(2), sig(-2)]]  # S by hand
    expected = []
    for s0, s1 in rows:
        e0, e1 = math.exp(s0 / tau), math.exp(s1 / tau)
        expected.append([e0 / (e0 + e1), e1 / (e0 + e1)])
    torch.testing.assert_close(out['similarity'], torch.tensor([rows]))
    torch.testing.assert_close(out['assignment'], torch.tensor([expected]))


def test_reconstruction_eq3_by_hand():
    A = torch.tensor([[[0.25, 0.75], [1., 0.]]])
    Z = torch.tensor([[4., 0.], [0., 8.]])
    torch.testing.assert_close(reconstruction(A, Z),
                               torch.tensor([[[1., 6.], [4., 0.]]]))


def test_latent_features_by_hand():
    A = torch.tensor([[[0.5, 0.5], [1., 0.]]])
    X = torch.tensor([[[4., 0.], [0., 8.]]])
    # m=0: (0.5·(4,0) + 1·(0,8)) / 1.5; m=1: 0.5·(4,0) / 0.5
    torch.testing.assert_close(latent_features(A, X),
                               torch.tensor([[[4 / 3, 16 / 3], [4., 0.]]]))


def test_latent_features_match_loops():
    g = torch.Generator().manual_seed(0)
    A = torch.softmax(torch.randn(2, 5, 3, generator=g), -1)
    X = torch.randn(2, 5, 4, generator=g)
    U = latent_features(A, X)
    for b in range(2):
        for m in range(3):
            expected = sum(A[b, n, m] * X[b, n] for n in range(5)) / \
                A[b, :, m].sum()
            torch.testing.assert_close(U[b, m], expected)


# ------------------------------------------------------------------ neck
def _hand_neck(fuse, **kwargs):
    """D=2, M=2 neck with proj = identity and P = Z = [[1, 1], [0, −1]]."""
    neck = LatentCategoryNeck(in_channels=2, num_latents=2, fuse=fuse,
                              **kwargs)
    with torch.no_grad():
        neck.latent_pool.copy_(torch.tensor([[1., 1.], [0., -1.]]))
        neck.proj.weight.copy_(torch.eye(2))
        neck.proj.bias.zero_()
    return neck


# Feature map B=1, D=2, H=1, W=2: positions X[0] = (1, 0), X[1] = (0, 2).
F_HAND = torch.tensor([[[[1., 0.]], [[0., 2.]]]])


def _hand_pooled():
    """GAP(X) and GAP(R) for F_HAND worked out by hand."""
    # S rows: (σ(1), σ(0)), (σ(2), σ(−2)); A = softmax over the row
    rows = [(sig(1), sig(0)), (sig(2), sig(-2))]
    recon = []
    for s0, s1 in rows:
        a0 = math.exp(s0) / (math.exp(s0) + math.exp(s1))
        a1 = 1 - a0
        recon.append((a0 * 1 + a1 * 0, a0 * 1 + a1 * -1))  # A·Z
    gap_x = [0.5, 1.0]
    gap_r = [(recon[0][0] + recon[1][0]) / 2, (recon[0][1] + recon[1][1]) / 2]
    return gap_x, gap_r


@pytest.mark.parametrize('fuse', ['concat', 'add', 'none'])
def test_fusion_by_hand(fuse):
    neck = _hand_neck(fuse, aug_loss=dict(type='LatentISDALoss'))
    gap_x, gap_r = _hand_pooled()
    expected = {
        'concat': gap_x + gap_r,
        'add': [x + r for x, r in zip(gap_x, gap_r)],
        'none': gap_x,
    }[fuse]
    out = neck((F_HAND, ))
    assert isinstance(out, tuple) and len(out) == 1
    assert neck.out_channels == len(expected) == out[0].shape[1]
    torch.testing.assert_close(out[0], torch.tensor([expected]))
    fused, _ = neck.loss((F_HAND, ))
    torch.testing.assert_close(fused[0], out[0])


def test_uses_last_feature_map_and_builds_from_registry():
    neck = MODELS.build(dict(
        type='LatentCategoryNeck', in_channels=4, num_latents=3,
        recon_loss=dict(type='ReconstructionLoss', loss_weight=0.1,
                        norm='l2', temperature=0.1),
        aug_loss=dict(type='LatentISDALoss', loss_weight=0.1, lambda0=0.5,
                      cov_type=None)))
    assert neck.out_channels == 8
    assert neck.aug_loss.cov_type == 'full'
    assert neck.aug_loss.estimator.covariance.shape == (3, 4, 4)
    last = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(neck((torch.randn(2, 7, 5, 5), last))[0],
                               neck((last, ))[0])


def _neck(**kwargs):
    torch.manual_seed(0)
    cfg = dict(in_channels=4, num_latents=3, fuse='concat',
               recon_loss=dict(type='ReconstructionLoss', loss_weight=0.1),
               aug_loss=dict(type='LatentISDALoss', loss_weight=0.2,
                             lambda0=0.5))
    cfg.update(kwargs)
    return LatentCategoryNeck(**cfg)


def _feats(seed=0, B=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 4, 2, 3, generator=g)


def test_loss_path_values_and_keys():
    neck = _neck(assign_temperature=0.5)
    feats = _feats()
    fused, losses = neck.loss((feats, ))
    assert set(losses) == {'loss_recon', 'loss_latent_aug'}
    lat = neck.extract_latents((feats, ))
    recon = ReconstructionLoss(loss_weight=1.0)(lat['reconstruction'],
                                                lat['feats'])
    assert losses['loss_recon'].item() == pytest.approx(0.1 * recon.item(),
                                                        rel=1e-5)
    isda = LatentISDALoss(3, 4, loss_weight=1.0)  # progress 0: plain CE
    aug = isda(lat['latent_feats'], neck.cls_lat.weight, neck.cls_lat.bias)
    assert losses['loss_latent_aug'].item() == pytest.approx(
        0.2 * aug.item(), rel=1e-5)
    assert neck.aug_loss.estimator.count.tolist() == [3, 3, 3]
    torch.testing.assert_close(neck.aug_loss.estimator.covariance,
                               isda.estimator.covariance)


@pytest.mark.parametrize('recon,aug,keys', [
    (None, None, set()),
    (dict(type='ReconstructionLoss'), None, {'loss_recon'}),
    (None, dict(type='LatentISDALoss'), {'loss_latent_aug'}),
])
def test_terms_switch_off(recon, aug, keys):
    neck = _neck(recon_loss=recon, aug_loss=aug)
    _, losses = neck.loss((_feats(), ))
    assert set(losses) == keys
    assert hasattr(neck, 'cls_lat') == (aug is not None)


def test_all_off_with_fuse_none_is_global_average_pooling():
    neck = _neck(fuse='none', recon_loss=None, aug_loss=None)
    assert list(neck.parameters()) == []
    feats = _feats()
    fused, losses = neck.loss((feats, ))
    assert losses == {}
    torch.testing.assert_close(fused[0], feats.mean(dim=(2, 3)))
    torch.testing.assert_close(neck((feats, ))[0], feats.mean(dim=(2, 3)))


def test_gradients_flow_to_latents_classifier_and_features_not_sigma():
    neck = _neck()
    neck.aug_loss.set_progress(1.0)
    feats = _feats().requires_grad_()
    fused, losses = neck.loss((feats, ))
    sum(losses.values()).backward()
    for name in ('latent_pool', 'proj.weight', 'proj.bias', 'cls_lat.weight',
                 'cls_lat.bias'):
        grad = neck.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert feats.grad.abs().sum() > 0
    for buf in neck.aug_loss.estimator.buffers():
        assert not buf.requires_grad and buf.grad_fn is None
    # The aug loss alone also trains the pool (through A in U) and X.
    neck = _neck(recon_loss=None, fuse='none')
    feats = _feats().requires_grad_()
    neck.loss((feats, ))[1]['loss_latent_aug'].backward()
    assert neck.latent_pool.grad.abs().sum() > 0
    assert neck.proj.weight.grad.abs().sum() > 0
    assert feats.grad.abs().sum() > 0


def test_inference_path_is_deterministic_and_does_no_loss_work(monkeypatch):
    neck = _neck()
    neck.loss((_feats(1), ))  # some statistics to protect
    before = {k: v.clone() for k, v in neck.state_dict().items()}

    def forbidden(*args, **kwargs):
        raise AssertionError('loss code ran on the inference path')

    monkeypatch.setattr(ReconstructionLoss, 'forward', forbidden)
    monkeypatch.setattr(LatentISDALoss, 'forward', forbidden)
    for mode in (neck.eval, neck.train):
        mode()
        first = neck((_feats(), ))[0]
        second = neck((_feats(), ))[0]
        torch.testing.assert_close(first, second, rtol=0, atol=0)
    for key, value in neck.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_state_dict_round_trip_restores_and_continues_estimator():
    neck = _neck()
    for seed in range(3):
        neck.loss((_feats(seed), ))
    state = neck.state_dict()
    assert {'aug_loss.estimator.mean', 'aug_loss.estimator.covariance',
            'aug_loss.estimator.count'} <= set(state)
    restored = _neck()
    torch.manual_seed(123)
    restored.latent_pool.data.normal_()  # differ before loading
    restored.load_state_dict(state)
    torch.testing.assert_close(restored((_feats(), ))[0],
                               neck((_feats(), ))[0])
    for module in (neck, restored):
        module.loss((_feats(7), ))
    est, est2 = neck.aug_loss.estimator, restored.aug_loss.estimator
    torch.testing.assert_close(est2.covariance, est.covariance)
    assert est2.count.tolist() == est.count.tolist() == [12, 12, 12]


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_float32_math_under_autocast(dtype):
    neck = _neck(recon_loss=dict(type='ReconstructionLoss', loss_weight=1.0))
    neck.aug_loss.set_progress(1.0)
    # Backbone outputs under autocast: low precision, large values whose
    # X·Xᵀ (~ 300²·4·… ) overflows float16.
    feats = (_feats() * 300).abs().to(dtype)
    with torch.autocast('cpu', dtype=dtype):
        fused, losses = neck.loss((feats, ))
    assert fused[0].dtype == dtype
    assert all(v.dtype == torch.float32 and torch.isfinite(v)
               for v in losses.values())
    reference = _neck(
        recon_loss=dict(type='ReconstructionLoss', loss_weight=1.0))
    reference.aug_loss.set_progress(1.0)
    ref_fused, ref_losses = reference.loss((feats.float(), ))
    for key in losses:
        torch.testing.assert_close(losses[key], ref_losses[key])
    torch.testing.assert_close(neck.aug_loss.estimator.covariance,
                               reference.aug_loss.estimator.covariance)
    torch.testing.assert_close(fused[0], ref_fused[0].to(dtype))


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match='fuse'):
        _neck(fuse='sum')
    with pytest.raises(ValueError, match='assign_temperature'):
        _neck(assign_temperature=0)
    with pytest.raises(ValueError, match='aug_loss.num_latents'):
        _neck(aug_loss=dict(type='LatentISDALoss', num_latents=5))
    with pytest.raises(ValueError, match='in_channels'):
        _neck()((torch.zeros(1, 5, 2, 2), ))
