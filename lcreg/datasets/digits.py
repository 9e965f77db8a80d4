"""scikit-learn's bundled handwritten digits as a small image data set.

The embedded default of ``make demo``: it needs no download, so the demo
runs offline on a fresh machine. It is a demo, not a benchmark.
"""
from typing import List

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

DIGIT_CLASSES = tuple(str(d) for d in range(10))


@DATASETS.register_module()
class SklearnDigits(BaseDataset):
    """The 1,797 8×8 handwritten digits of ``sklearn.datasets.load_digits``.

    Each image is scaled to 0..255, enlarged ``scale`` times (nearest
    neighbour) and repeated on 3 channels, so a CIFAR backbone takes it:
    ``results['img']`` is a uint8 array of shape (8·scale)×(8·scale)×3.
    The split is deterministic and class-balanced: the last
    ``test_per_class`` images of every class form the test split.

    Args:
        split (str): 'train' or 'test'.
        test_per_class (int): test images per class. Defaults to 50.
        scale (int): enlargement factor. Defaults to 4 (32×32 images).
        pipeline (list): data pipeline, as for any MMPretrain dataset.
    """

    METAINFO = dict(classes=DIGIT_CLASSES)

    def __init__(self,
                 split: str = 'train',
                 test_per_class: int = 50,
                 scale: int = 4,
                 pipeline=(),
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"SklearnDigits: split must be 'train' or "
                             f"'test', got {split!r}")
        self.split = split
        self.test_per_class = test_per_class
        self.scale = scale
        super().__init__(
            ann_file='', pipeline=list(pipeline), test_mode=split == 'test',
            **kwargs)

    def load_data_list(self) -> List[dict]:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise ImportError(
                'SklearnDigits needs scikit-learn: pip install scikit-learn'
            ) from e
        digits = load_digits()
        images = np.clip(digits.images * (255.0 / 16.0), 0, 255)
        images = images.astype(np.uint8).repeat(self.scale, 1)
        images = images.repeat(self.scale, 2)[..., None].repeat(3, -1)
        labels = digits.target.astype(np.int64)
        data_list = []
        for c in range(len(DIGIT_CLASSES)):
            idx = np.flatnonzero(labels == c)
            cut = len(idx) - self.test_per_class
            chosen = idx[:cut] if self.split == 'train' else idx[cut:]
            data_list.extend(
                dict(img=images[i], gt_label=int(labels[i])) for i in chosen)
        return data_list
