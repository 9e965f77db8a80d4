from . import (backbones, batch_augments, classifiers, heads, losses,  # noqa: F401
               necks)
