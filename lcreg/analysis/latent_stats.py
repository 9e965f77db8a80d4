"""Latent-category statistics (paper Sec. 4.3, Fig. 4).

The assignment ``A ∈ R^{B×N×M}`` (eq. 2, softmax over the M latents at each
of the N = H·W positions) says how much each latent category contributes to
the reconstruction of each position (eq. 3). Averaged over the positions it
is the "latent category histogram" of an image (Fig. 4): ``M`` non-negative
weights that sum to 1.
"""
from typing import Sequence, Tuple

import numpy as np


def latent_weights(assignment: np.ndarray) -> np.ndarray:
    """Weight of every latent category in every image: mean of A over n.

    Args:
        assignment: A, shape (B, N, M).

    Returns:
        (B, M) array; each row sums to 1 when A's rows do.
    """
    assignment = np.asarray(assignment)
    if assignment.ndim != 3:
        raise ValueError('latent_weights: the assignment must be B×N×M, got '
                         f'shape {assignment.shape}.')
    return assignment.mean(axis=1)


def assignment_entropy(assignment: np.ndarray) -> np.ndarray:
    """How spread the assignment is: per image, the mean over positions of
    the entropy of ``A[n, :]`` divided by ``log M``.

    1 means every position is spread uniformly over the M latents (then
    every latent feature U[b, m] is the plain average of the image, and the
    latent categories carry no information: lower ``assign_temperature``);
    0 means every position is assigned to a single latent.

    Args:
        assignment: A, shape (B, N, M), M > 1.

    Returns:
        (B,) array in [0, 1].
    """
    assignment = np.asarray(assignment, dtype=np.float64)
    if assignment.ndim != 3 or assignment.shape[2] < 2:
        raise ValueError('assignment_entropy: the assignment must be B×N×M '
                         f'with M > 1, got shape {assignment.shape}.')
    logs = np.log(np.where(assignment > 0, assignment, 1.0))  # 0·log 0 = 0
    entropy = -(assignment * logs).sum(axis=2)
    return entropy.mean(axis=1) / np.log(assignment.shape[2])


def _top_k_desc(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row, largest first; ties go
    to the lower index."""
    if not 1 <= k <= values.shape[1]:
        raise ValueError(f'k={k} must be in [1, {values.shape[1]}].')
    return np.argsort(-values, axis=1, kind='stable')[:, :k]


def top_latents(weights: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The k latent categories of highest weight of every image.

    Args:
        weights: (B, M) latent weights (:func:`latent_weights`).
        k: how many, 1 <= k <= M.

    Returns:
        ``(indices, values)``, both (B, k), by decreasing weight (ties: lower
        latent index first).
    """
    weights = np.asarray(weights)
    index = _top_k_desc(weights, k)
    return index, np.take_along_axis(weights, index, axis=1)


def top_images_per_latent(weights: np.ndarray, k: int) -> np.ndarray:
    """For every latent category, the k images where it weighs most.

    Args:
        weights: (B, M) latent weights of B images.
        k: images per latent, 1 <= k <= B.

    Returns:
        (M, k) image indices, by decreasing weight (ties: lower image index).
    """
    return _top_k_desc(np.asarray(weights).T, k)


def class_latent_matrix(weights: np.ndarray, labels: Sequence[int],
                        num_classes: int) -> np.ndarray:
    """Mean latent weights of the images of each class.

    Args:
        weights: (B, M) latent weights.
        labels: (B,) class label of every image, in ``[0, num_classes)``.
        num_classes: C.

    Returns:
        (C, M) matrix; row c is the mean of ``weights`` over the images of
        class c, NaN for a class without images.
    """
    weights = np.asarray(weights, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(weights):
        raise ValueError(f'class_latent_matrix: {len(labels)} labels for '
                         f'{len(weights)} rows of weights.')
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError('class_latent_matrix: labels must be in [0, '
                         f'{num_classes}), got {labels.min()}..'
                         f'{labels.max()}.')
    sums = np.zeros((num_classes, weights.shape[1]))
    np.add.at(sums, labels, weights)
    totals = np.bincount(labels, minlength=num_classes).astype(np.float64)
    matrix = np.full_like(sums, np.nan)
    seen = totals > 0
    matrix[seen] = sums[seen] / totals[seen, None]
    return matrix


def shared_top_latents(matrix: np.ndarray, rows_a: Sequence[int],
                       rows_b: Sequence[int], k: int) -> np.ndarray:
    """Latent categories among the k strongest of both class groups.

    The strength of a latent for a group is the mean of its matrix column
    over the group's classes (classes without images, NaN rows, are left
    out). Used to show which latents head and tail classes share.

    Returns:
        Sorted latent indices in the top-k of group a and of group b.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    tops = []
    for rows in (rows_a, rows_b):
        block = matrix[np.asarray(rows, dtype=np.int64)]
        block = block[~np.isnan(block).any(axis=1)]
        if len(block) == 0:
            return np.zeros(0, dtype=np.int64)
        tops.append(set(_top_k_desc(block.mean(axis=0)[None], k)[0]))
    return np.array(sorted(tops[0] & tops[1]), dtype=np.int64)


def similarity_map(similarity: np.ndarray, latent: int, height: int,
                   width: int) -> np.ndarray:
    """Similarity map of one latent category of one image (eq. 1).

    Args:
        similarity: S of one image, (N, M) with N = height·width, positions
            in row-major order (``n = h·width + w``, as ``flatten(2)``).
        latent: m, in ``[0, M)``.

    Returns:
        (height, width) array ``S[:, m]``.
    """
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[0] != height * width:
        raise ValueError(f'similarity_map: S must be (H·W, M) = '
                         f'({height * width}, M), got {similarity.shape}.')
    if not 0 <= latent < similarity.shape[1]:
        raise ValueError(f'similarity_map: latent {latent} is outside [0, '
                         f'{similarity.shape[1]}).')
    return similarity[:, latent].reshape(height, width)


def upsample(image_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a (h, w) map to (height, width) (half-pixel
    centres, as ``F.interpolate(align_corners=False)``)."""
    import torch
    import torch.nn.functional as F
    tensor = torch.as_tensor(np.asarray(image_map, dtype=np.float32))
    out = F.interpolate(tensor[None, None], size=(height, width),
                        mode='bilinear', align_corners=False)
    return out[0, 0].numpy()
