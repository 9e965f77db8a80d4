"""Optimizer with one parameter group per training role (two-stage recipe).

The classifier stage of MiSLAS / decoupling trains only the classifier
(learning rate ``lr_factor · lr``) and the learnable weight scaling
(learning rate ``lr``), with the representation frozen. Keeping one
optimizer for the whole run, with these roles as separate parameter
groups, lets the stage switch change learning rates in place, and keeps
checkpoints resumable in either stage and across the boundary (the
optimizer's structure never changes).
"""
from typing import Dict, List

import torch.nn as nn
from mmpretrain.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                                 OPTIMIZERS)

# The classifier comes first: MMEngine logs the lr of the first group, which
# is then the classifier's in both stages (the representation's is 0 in
# stage 2).
ROLES = ('classifier', 'scale', 'representation')


def parameter_roles(model: nn.Module, head_prefix: str = 'head.',
                    scale_names=('scale', )) -> Dict[str, List]:
    """Split the parameters of ``model`` into the roles of ``ROLES``.

    ``classifier``: parameters under ``head_prefix``, except those whose
    last name is in ``scale_names`` (``scale``); everything else is the
    ``representation`` (backbone, neck).
    """
    roles = {role: [] for role in ROLES}
    for name, param in model.named_parameters():
        if name.startswith(head_prefix):
            last = name.rsplit('.', 1)[-1]
            roles['scale' if last in scale_names else 'classifier'].append(
                (name, param))
        else:
            roles['representation'].append((name, param))
    return roles


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StageOptimWrapperConstructor:
    """Build the optimizer with the parameter groups ``classifier``,
    ``scale`` and ``representation`` (in this order; each group's ``name``
    key says which). Frozen parameters are included: the optimizer skips a
    parameter without a gradient, and the stage switch can unfreeze it
    without rebuilding anything.

    Used as ``optim_wrapper=dict(constructor='StageOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.1, ...))``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        if paramwise_cfg:
            raise ValueError(
                'optim_wrapper.paramwise_cfg cannot be combined with '
                "constructor='StageOptimWrapperConstructor'; remove one")
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = dict(self.optim_wrapper_cfg.pop('optimizer'))
        self.optim_wrapper_cfg.setdefault('type', 'OptimWrapper')

    def __call__(self, model: nn.Module):
        model = getattr(model, 'module', model)
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cfg['params'] = [
            dict(params=[p for _, p in named], name=role)
            for role, named in parameter_roles(model).items()
        ]
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        return OPTIM_WRAPPERS.build(
            dict(self.optim_wrapper_cfg),
            default_args=dict(optimizer=optimizer))
