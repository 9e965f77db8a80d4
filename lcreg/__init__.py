"""LCReg toolbox: long-tailed recognition by learning from latent categories.

Importing this package registers every module it defines into MMPretrain's
registries, so configs can refer to them by ``type`` name (or load them with
``custom_imports=dict(imports=['lcreg'], allow_failed_imports=False)``).
"""
import warnings

# mmcv-lite has no compiled ops; mmpretrain imports a transformer module that
# warns about one of them. LCReg uses none of mmcv's compiled ops.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from .version import __version__  # noqa: E402
from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
