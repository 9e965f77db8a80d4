"""Train and evaluate in the channels-last (NHWC) memory format.

With mixed precision, cuDNN's tensor-core convolutions work on NHWC data;
NCHW tensors may cost transposes around them. PyTorch picks NHWC
for a convolution when its input *or its weight* is channels-last, so it is
enough to store the model's 4-D tensors (convolution weights) that way: the
first convolution turns the NCHW image batch into NHWC, and batch norm,
ReLU, pooling and the element-wise ops keep the format. Nothing else
changes: same numbers up to floating-point summation order.

Switch it on with ``tools/train.py CONFIG --channels-last`` or in a config::

    custom_hooks = [..., dict(type='ChannelsLastHook')]

The hook converts the model once it is initialised or loaded: in
``before_train`` (after MMEngine's weight initialisation and
``load_from`` / resume, so the random initial weights are the same as
without the hook; converting earlier would fill the same distribution in a
permuted memory order) and in ``before_val`` / ``before_test`` for
evaluation-only runs. An EMA copy kept by a hook (``EMAHook.ema_model``) is
converted with it. Under DDP the model is wrapped already: the parameters
keep their identity (optimizer and DDP stay valid) and DDP copies their
gradients into its buckets with a change of strides, a copy it makes
anyway (until it rebuilds the buckets after the first iteration, or for
good with ``find_unused_parameters=True``). PyTorch's warning that "grad
strides do not match bucket view strides" is expected then and silenced
for that one message. Checkpoints load into a model of either format.
"""
import warnings

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


def to_channels_last(model: torch.nn.Module) -> int:
    """Store every 4-D parameter and buffer of ``model`` channels-last,
    in place (``Tensor.data`` replaced, objects kept).

    Returns:
        int: the number of tensors converted.
    """
    converted = 0
    tensors = list(model.parameters()) + list(model.buffers())
    for tensor in tensors:
        if tensor.dim() == 4 and not tensor.is_contiguous(
                memory_format=torch.channels_last):
            tensor.data = tensor.data.contiguous(
                memory_format=torch.channels_last)
            converted += 1
    return converted


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model to the channels-last memory format (no arguments).

    Logs how many tensors it converted, once.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._logged = False

    def _convert(self, runner) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
            warnings.filterwarnings(
                'ignore', message='Grad strides do not match bucket view '
                'strides', category=UserWarning)
        converted = to_channels_last(model)
        for hook in runner.hooks:  # EMAHook's averaged copy
            ema = getattr(hook, 'ema_model', None)
            if isinstance(ema, torch.nn.Module):
                converted += to_channels_last(ema)
        if not self._logged:
            runner.logger.info(
                f'ChannelsLastHook: {converted} 4-D parameters / buffers of '
                f'{type(model).__name__} stored channels-last (NHWC)')
            self._logged = True

    def before_train(self, runner) -> None:
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)
