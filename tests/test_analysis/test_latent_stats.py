"""lcreg.analysis.latent_stats on hand-made arrays."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lcreg.analysis import latent_stats as ls

# 2 images, 3 positions, 4 latents; rows are distributions over latents.
A = np.array([
    [[0.7, 0.1, 0.1, 0.1],
     [0.1, 0.6, 0.2, 0.1],
     [0.4, 0.1, 0.4, 0.1]],
    [[0.25, 0.25, 0.25, 0.25],
     [0.0, 0.0, 0.5, 0.5],
     [0.2, 0.1, 0.3, 0.4]],
])


def test_latent_weights_is_mean_over_positions():
    weights = ls.latent_weights(A)
    assert weights.shape == (2, 4)
    # image 0: (0.7+0.1+0.4)/3, (0.1+0.6+0.1)/3, (0.1+0.2+0.4)/3, 0.3/3
    np.testing.assert_allclose(weights[0], [0.4, 0.8 / 3, 0.7 / 3, 0.1])
    np.testing.assert_allclose(weights[1],
                               [0.15, 0.35 / 3, 1.05 / 3, 1.15 / 3])
    np.testing.assert_allclose(weights.sum(axis=1), [1.0, 1.0])


def test_latent_weights_rejects_non_3d():
    with pytest.raises(ValueError, match='B×N×M'):
        ls.latent_weights(A[0])


def test_top_latents_order_and_ties():
    weights = ls.latent_weights(A)
    index, values = ls.top_latents(weights, 2)
    np.testing.assert_array_equal(index, [[0, 1], [3, 2]])
    np.testing.assert_allclose(values, [[0.4, 0.8 / 3], [1.15 / 3, 0.35]])
    tied = np.array([[0.2, 0.3, 0.3, 0.2]])
    np.testing.assert_array_equal(ls.top_latents(tied, 3)[0], [[1, 2, 0]])
    with pytest.raises(ValueError):
        ls.top_latents(weights, 5)


def test_top_images_per_latent():
    weights = np.array([[0.5, 0.1, 0.4],
                        [0.2, 0.6, 0.2],
                        [0.3, 0.3, 0.4]])
    top = ls.top_images_per_latent(weights, 2)
    # latent 0: images 0 (.5), 2 (.3); latent 1: 1 (.6), 2 (.3);
    # latent 2: tie 0 and 2 (.4) -> lower index first
    np.testing.assert_array_equal(top, [[0, 2], [1, 2], [0, 2]])


def test_class_latent_matrix_means_and_missing_class():
    weights = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.8]])
    labels = [0, 0, 2, 2]
    matrix = ls.class_latent_matrix(weights, labels, 3)
    np.testing.assert_allclose(matrix[0], [0.5, 0.5])
    assert np.isnan(matrix[1]).all()
    np.testing.assert_allclose(matrix[2], [0.35, 0.65])
    with pytest.raises(ValueError, match='labels'):
        ls.class_latent_matrix(weights, [0, 0, 3, 2], 3)


def test_shared_top_latents():
    matrix = np.array([[0.5, 0.3, 0.1, 0.1],   # head class
                       [0.4, 0.1, 0.4, 0.1],   # head class
                       [np.nan] * 4,           # class without images
                       [0.1, 0.2, 0.6, 0.1]])  # tail class
    # head mean: .45 .2 .25 .1 -> top2 {0, 2}; tail: top2 {2, 1}
    np.testing.assert_array_equal(
        ls.shared_top_latents(matrix, [0, 1], [2, 3], 2), [2])
    assert len(ls.shared_top_latents(matrix, [0], [2], 2)) == 0


def test_similarity_map_is_row_major():
    # 2x3 feature map, 2 latents: S[n, 1] = n
    sim = np.stack([np.zeros(6), np.arange(6.0)], axis=1)
    smap = ls.similarity_map(sim, 1, 2, 3)
    np.testing.assert_array_equal(smap, [[0, 1, 2], [3, 4, 5]])
    # the neck's own layout: flatten(2).transpose(1, 2) of B×D×H×W
    feat = torch.arange(6.0).view(1, 1, 2, 3)
    np.testing.assert_array_equal(
        ls.similarity_map(feat.flatten(2).transpose(1, 2)[0].numpy(), 0, 2,
                          3), feat[0, 0].numpy())
    with pytest.raises(ValueError, match='outside'):
        ls.similarity_map(sim, 2, 2, 3)
    with pytest.raises(ValueError, match='H·W'):
        ls.similarity_map(sim, 0, 3, 3)


def test_upsample_matches_bilinear_half_pixel():
    small = np.array([[0.0, 1.0], [2.0, 3.0]])
    big = ls.upsample(small, 4, 4)
    assert big.shape == (4, 4)
    # half-pixel centres: output x=1 maps to input 0.25 -> 0.25
    np.testing.assert_allclose(big[0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(big[:, 0], [0.0, 0.5, 1.5, 2.0])
    ref = F.interpolate(torch.tensor(small, dtype=torch.float32)[None, None],
                        size=(4, 4), mode='bilinear', align_corners=False)
    np.testing.assert_allclose(big, ref[0, 0].numpy())


def test_assignment_entropy_hand_computed():
    def h(*p):
        return -sum(x * np.log(x) for x in p if x > 0) / np.log(4)

    expected = [
        (h(.7, .1, .1, .1) + h(.1, .6, .2, .1) + h(.4, .1, .4, .1)) / 3,
        (1.0 + h(.5, .5) + h(.2, .1, .3, .4)) / 3]
    np.testing.assert_allclose(ls.assignment_entropy(A), expected)
    one_hot = np.eye(4)[None]  # 4 positions, each on its own latent
    np.testing.assert_allclose(ls.assignment_entropy(one_hot), [0.0])
    np.testing.assert_allclose(
        ls.assignment_entropy(np.full((1, 2, 4), 0.25)), [1.0])
    with pytest.raises(ValueError, match='M > 1'):
        ls.assignment_entropy(np.ones((1, 3, 1)))
