"""Refuse to evaluate a checkpoint that does not fit the config's model.

MMEngine loads ``load_from`` non-strictly: a checkpoint of another recipe
(an LCReg checkpoint with a MiSLAS config, another ``num_latents``, a
ResNet-32 checkpoint with a ResNet-50 config) only logs "size mismatch" /
"unexpected key" warnings, and the test then reports the accuracy of
randomly initialised layers. :func:`check_checkpoint_fits` compares the
checkpoint's ``state_dict`` with the model's (names and shapes) first and
raises one ``ValueError`` naming the differences and the fix;
``tools/test.py`` runs it through :class:`CheckpointFitHook`, in
``before_run`` after NumClassesCheckHook (whose message about the data is
the clearer one when the class count is what differs).

One difference is allowed: a ``ScaledLinearClsHead`` model may load a
checkpoint without ``head.scale`` (one trained with a plain
``LinearClsHead``, e.g. the cross-entropy baselines, evaluated with
τ-normalisation through a cRT / LWS config); the scale then stays 1
(:func:`optional_keys`).
"""
import logging
from typing import Iterable, List, Tuple

from mmengine.logging import print_log

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from .safe_checkpoint import load_checkpoint_file

SHOWN = 4  # differences named per kind


def _some(items: List[str]) -> str:
    more = f' and {len(items) - SHOWN} more' if len(items) > SHOWN else ''
    return ', '.join(items[:SHOWN]) + more


def state_dict_differences(model_state: dict, state: dict,
                           optional: Iterable[str] = ()) -> List[str]:
    """What keeps ``state`` from loading strictly into ``model_state``:
    missing keys (except ``optional`` ones), unexpected keys and shape
    mismatches, each kind as one phrase (empty list: it fits)."""
    optional = set(optional)
    missing = [k for k in model_state if k not in state and k not in optional]
    unexpected = [k for k in state if k not in model_state]
    shapes = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}'
              for k, v in model_state.items()
              if k in state and hasattr(state[k], 'shape')
              and tuple(state[k].shape) != tuple(v.shape)]
    found = []
    if shapes:
        found.append(f'{len(shapes)} shape mismatches (checkpoint vs model: '
                     f'{_some(shapes)})')
    if missing:
        found.append(f'{len(missing)} model keys missing ({_some(missing)})')
    if unexpected:
        found.append(f'{len(unexpected)} unexpected keys '
                     f'({_some(unexpected)})')
    return found


def checkpoint_state_dict(checkpoint: str) -> dict:
    """The ``state_dict`` of a checkpoint file, loaded safely."""
    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{checkpoint}: not a model checkpoint (no '
                         'state_dict).')
    return state


def optional_keys(model) -> Tuple[str, ...]:
    """Keys a checkpoint for ``model`` may lack: ``head.scale`` of a
    :class:`~lcreg.models.heads.ScaledLinearClsHead` (initialised to 1,
    absent from ``LinearClsHead`` checkpoints), and the covariance
    estimator of a :class:`~lcreg.models.losses.ClassISDALoss` head loss
    (training state of stage 1: the loss, and with it the estimator, is
    replaced at the stage-2 switch, so the final checkpoint lacks it)."""
    from lcreg.models.heads import ScaledLinearClsHead
    from lcreg.models.losses import ClassISDALoss
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'head', None)
    keys = ('head.scale', ) if isinstance(head, ScaledLinearClsHead) else ()
    loss = getattr(head, 'loss_module', None)
    if isinstance(loss, ClassISDALoss):
        keys += tuple(f'head.loss_module.estimator.{name}'
                      for name, _ in loss.estimator.named_buffers())
    return keys


def check_checkpoint_fits(model, checkpoint: str, config: str,
                          optional: Iterable[str] = ()) -> dict:
    """Raise ``ValueError`` unless ``checkpoint`` loads strictly into
    ``model`` (the model built from ``config``; DDP wrappers unwrapped),
    except for the ``optional`` keys it may lack. Returns its state_dict."""
    if is_model_wrapper(model):
        model = model.module
    state = checkpoint_state_dict(checkpoint)
    found = state_dict_differences(model.state_dict(), state, optional)
    if found:
        raise ValueError(
            f'{checkpoint} does not fit the model of {config}: '
            + '; '.join(found) + '. Use the config the checkpoint was '
            'trained with (MMEngine saves a copy in the work dir of the '
            'run) and the same --cfg-options.')
    return state


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """:func:`check_checkpoint_fits` before the Runner loads ``checkpoint``.

    Args:
        checkpoint (str): the checkpoint file (the run's ``load_from``).
        config (str): the config file, for the message.
    """

    priority = 'LOW'

    def __init__(self, checkpoint: str, config: str) -> None:
        self.checkpoint, self.config = checkpoint, config

    def before_run(self, runner) -> None:
        optional = optional_keys(runner.model)
        state = check_checkpoint_fits(runner.model, self.checkpoint,
                                      self.config, optional=optional)
        for key in optional:
            if key not in state:
                print_log(f'{self.checkpoint} has no {key} (a LinearClsHead '
                          'checkpoint): it stays 1.', logger='current',
                          level=logging.WARNING)
