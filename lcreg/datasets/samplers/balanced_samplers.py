"""Square-root and progressively-balanced sampling (Kang et al., ICLR 2020).

Kang et al. ("Decoupling Representation and Classifier for Long-Tailed
Recognition", Sec. 3) sample class ``j`` with probability

    p_j = n_j^q / sum_i n_i^q,

``n_j`` the number of training samples of class ``j``: ``q = 1`` is
instance-balanced, ``q = 0`` class-balanced, ``q = 1/2`` square-root sampling.
Progressively-balanced sampling moves from the first to the second over
training:

    p_j(t) = (1 - t/T) * p_j^IB + (t/T) * p_j^CB,

``t`` the current epoch and ``T`` the total number of epochs. Each slot's
class is drawn i.i.d. from ``p``; the image is then taken from that class's
reshuffled cycle of indices (see :class:`BaseClassSampler`).
"""
from typing import Optional, Sized

import torch
from mmengine.logging import print_log
from mmpretrain.registry import DATA_SAMPLERS

from .class_aware_sampler import BaseClassSampler


def class_sampling_probabilities(class_counts: torch.Tensor,
                                 q: float) -> torch.Tensor:
    """``p_j = n_j^q / sum_i n_i^q`` over the classes with ``n_j > 0``.

    Args:
        class_counts (Tensor): samples per class, shape (C,).
        q (float): the exponent (1 instance-, 0 class-balanced).

    Returns:
        Tensor: float64 probabilities, shape (C,), zero for empty classes.
    """
    counts = class_counts.to(torch.float64)
    weights = torch.where(counts > 0, counts.pow(q), torch.zeros_like(counts))
    return weights / weights.sum()


class _ProbabilityClassSampler(BaseClassSampler):
    """Draws the class of every slot i.i.d. from :meth:`probabilities`."""

    def probabilities(self) -> torch.Tensor:
        """Class probabilities of the current epoch, float64, shape (C,)."""
        raise NotImplementedError

    def _slot_classes(self, generator: torch.Generator,
                      length: int) -> torch.Tensor:
        return torch.multinomial(
            self.probabilities(), length, replacement=True,
            generator=generator)


@DATA_SAMPLERS.register_module()
class SquareRootSampler(_ProbabilityClassSampler):
    """Square-root sampling: ``p_j ∝ sqrt(n_j)`` (Kang et al., q = 1/2).

    Args:
        dataset (Sized): single-label dataset (see :class:`BaseClassSampler`).
        num_samples (int, optional): global epoch length.
            Defaults to ``len(dataset)``.
        seed, rank, world_size: see :class:`BaseClassSampler`.
    """

    def probabilities(self) -> torch.Tensor:
        return class_sampling_probabilities(self.class_counts, 0.5)


@DATA_SAMPLERS.register_module()
class ProgressivelyBalancedSampler(_ProbabilityClassSampler):
    """Progressively-balanced sampling (Kang et al.).

    ``p_j(t) = (1 - t/T) p_j^IB + (t/T) p_j^CB`` with ``t`` the epoch given to
    :meth:`set_epoch` (MMEngine's ``DistSamplerSeedHook`` passes the 0-based
    epoch) and ``T = total_epochs``. Epochs past ``T`` keep ``t/T = 1``
    (class-balanced); a warning is logged once when that happens.

    Args:
        dataset (Sized): single-label dataset (see :class:`BaseClassSampler`).
        total_epochs (int): ``T``, normally ``train_cfg.max_epochs``.
        num_samples (int, optional): global epoch length.
            Defaults to ``len(dataset)``.
        seed, rank, world_size: see :class:`BaseClassSampler`.
    """

    def __init__(self,
                 dataset: Sized,
                 total_epochs: int,
                 num_samples: Optional[int] = None,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        if not isinstance(total_epochs, int) or total_epochs < 1:
            raise ValueError(
                f'ProgressivelyBalancedSampler: total_epochs={total_epochs!r} '
                'must be a positive integer (set it to train_cfg.max_epochs).')
        self.total_epochs = total_epochs
        self._warned_past_end = False
        super().__init__(dataset, num_samples=num_samples, seed=seed,
                         rank=rank, world_size=world_size)

    def probabilities(self) -> torch.Tensor:
        progress = min(self.epoch / self.total_epochs, 1.0)
        if self.epoch > self.total_epochs and not self._warned_past_end:
            print_log(
                f'ProgressivelyBalancedSampler: epoch {self.epoch} is past '
                f'total_epochs={self.total_epochs}; sampling stays '
                'class-balanced. Set total_epochs to train_cfg.max_epochs.',
                logger='current', level=30)
            self._warned_past_end = True
        p_ib = class_sampling_probabilities(self.class_counts, 1.0)
        p_cb = class_sampling_probabilities(self.class_counts, 0.0)
        return (1.0 - progress) * p_ib + progress * p_cb
