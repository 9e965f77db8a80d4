"""Remix (Chou et al., ECCV-W 2020): the label weight and the mix by hand."""
import pytest
import torch
from mmpretrain.models.utils.batch_augments import RandomBatchAugment

import lcreg  # noqa: F401
from lcreg.models.batch_augments import Remix, remix_label_weight


@pytest.mark.parametrize('n_i, n_j, lam, expected', [
    (300, 100, 0.4, 0.0),   # n_i/n_j = 3 >= κ and λ < τ: label of j
    (300, 100, 0.6, 0.6),   # λ >= τ: mixup label
    (100, 300, 0.6, 1.0),   # n_i/n_j = 1/3 <= 1/κ and 1-λ < τ: label of i
    (100, 300, 0.4, 0.4),   # 1-λ >= τ: mixup label
    (200, 100, 0.4, 0.4),   # ratio 2 < κ: mixup label
    (100, 100, 0.1, 0.1),   # same class size
])
def test_label_weight_rule(n_i, n_j, lam, expected):
    got = remix_label_weight(lam, torch.tensor([float(n_i)]),
                             torch.tensor([float(n_j)]), 3.0, 0.5)
    assert got.tolist() == pytest.approx([expected])


def test_mix_by_hand():
    # classes 0 (n = 300) and 1 (n = 100), partners index = (1, 0), λ = 0.4
    remix = Remix(alpha=1.0, kappa=3.0, tau=0.5, class_counts=[300, 100])
    inputs = torch.tensor([[1.0], [11.0]])
    scores = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mixed, labels = remix.mix(inputs, scores, lam=0.4,
                              index=torch.tensor([1, 0]))
    # images: 0.4·x_i + 0.6·x_j = (0.4 + 6.6, 4.4 + 0.6)
    assert mixed[:, 0].tolist() == pytest.approx([7.0, 5.0])
    # sample 0: n_i/n_j = 3, λ < τ -> λ_y = 0: the label of class 1
    # sample 1: n_i/n_j = 1/3, 1-λ = 0.6 >= τ -> λ_y = λ:
    #   0.4·(0, 1) + 0.6·(1, 0) = (0.6, 0.4)
    assert labels.tolist() == [[0.0, 1.0], pytest.approx([0.6, 0.4])]


def test_built_by_mmpretrain_and_needs_counts():
    wrapper = RandomBatchAugment(dict(type='Remix', alpha=1.0))
    remix = wrapper.augments[0]
    assert isinstance(remix, Remix) and (remix.kappa, remix.tau) == (3.0,
                                                                     0.5)
    with pytest.raises(ValueError, match='Remix: class_counts is not set'):
        remix(torch.zeros(2, 1), torch.eye(2))
    remix.set_class_counts([3, 1])
    with pytest.raises(ValueError, match='3 entries|2 entries'):
        remix(torch.zeros(3, 1), torch.eye(3))


@pytest.mark.parametrize('kwargs, match', [
    (dict(kappa=0.5), 'kappa'), (dict(tau=1.5), 'tau'),
    (dict(alpha=0.0), 'alpha'), (dict(class_counts=[3, 0]),
                                 r'class_counts\[1\] = 0')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Remix(**kwargs)
