"""bfloat16 on the CPU: CPU detection, the optimizer wrapper, --amp.

The wrapper runs the forward under CPU bfloat16 autocast (the backbone's
convolutions compute in bfloat16) while the parameters, their gradients
and the LCReg neck's losses stay float32; ``tools/train.py --amp`` picks
it on a CPU and trains through the real Runner.
"""
import copy
import json

import pytest
import torch
from fixtures.tool_runs import TINY_CONFIG, run_in_process
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from lcreg.engine.optimizers import (CPUBF16OptimWrapper, check_cpu_bf16,
                                     cpu_bf16_flags,
                                     mixed_precision_optim_wrapper)

@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with bfloat16 instructions, real or emulated.

    torch's CPU autocast computes in bfloat16 on any x86 CPU (emulated and
    slower without AVX512-BF16 / AMX): on a CPU without them the check is
    told they are there, so the bfloat16 paths are tested on every machine.
    """
    if not any(cpu_bf16_flags().values()):
        from lcreg.engine.optimizers import bf16_optim_wrapper
        monkeypatch.setattr(bf16_optim_wrapper, 'cpu_bf16_flags',
                            lambda: dict(avx512_bf16=True, amx_bf16=False))


SGD = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))


def test_flags_from_cpuinfo(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse '
                    'avx512f avx512_bf16 avx2\n\nprocessor\t: 1\n'
                    'flags\t\t: amx_bf16\n')
    # the first CPU's flags line
    assert cpu_bf16_flags(str(info)) == dict(avx512_bf16=True,
                                             amx_bf16=False)
    info.write_text('flags\t\t: fpu avx512f amx_tile amx_bf16\n')
    assert cpu_bf16_flags(str(info)) == dict(avx512_bf16=False,
                                             amx_bf16=True)
    assert cpu_bf16_flags(str(tmp_path / 'absent')) == dict(
        avx512_bf16=False, amx_bf16=False)


def test_check_names_the_instruction_sets():
    check_cpu_bf16(dict(avx512_bf16=False, amx_bf16=True))
    with pytest.raises(RuntimeError, match=r"AVX512-BF16 or AMX-BF16 .*"
                       r"'avx512_bf16' or 'amx_bf16'"):
        check_cpu_bf16(dict(avx512_bf16=False, amx_bf16=False))


def test_wrapper_choice_per_device(monkeypatch):
    cuda = mixed_precision_optim_wrapper(SGD, 'cuda')
    assert cuda['type'] == 'AmpOptimWrapper'
    assert cuda['loss_scale'] == 'dynamic'
    from lcreg.engine.optimizers import bf16_optim_wrapper
    monkeypatch.setattr(bf16_optim_wrapper, 'cpu_bf16_flags',
                        lambda: dict(avx512_bf16=True, amx_bf16=False))
    cpu = mixed_precision_optim_wrapper(SGD, 'cpu')
    assert cpu['type'] == 'CPUBF16OptimWrapper' and 'loss_scale' not in cpu
    assert SGD.get('type') is None  # the input is not changed
    for already in ('AmpOptimWrapper', 'CPUBF16OptimWrapper'):
        assert mixed_precision_optim_wrapper(
            dict(SGD, type=already), 'cpu')['type'] == already
    with pytest.raises(ValueError, match="optim_wrapper.type, which is "
                       "'ApexOptimWrapper'"):
        mixed_precision_optim_wrapper(dict(SGD, type='ApexOptimWrapper'),
                                      'cuda')
    with pytest.raises(ValueError, match="device is mps"):
        mixed_precision_optim_wrapper(SGD, 'mps')


def _tiny_model_and_batch():
    cfg = Config.fromfile(str(TINY_CONFIG))
    torch.manual_seed(0)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8,
                           generator=gen)
    samples = [DataSample().set_gt_label(i % 10) for i in range(8)]
    return model, dict(inputs=list(images), data_samples=samples)


def test_forward_in_bf16_parameters_and_neck_losses_in_fp32(bf16_cpu):
    model, batch = _tiny_model_and_batch()
    model.neck.aug_loss.progress = 0.5  # λ > 0: the ISDA term is computed
    seen = {}

    def backbone_dtype(module, inputs, outputs):
        seen['backbone'] = outputs[-1].dtype  # returns None: output kept

    model.backbone.register_forward_hook(backbone_dtype)

    def loss_input_dtype(module, inputs):
        seen['head_loss'] = inputs[0].dtype

    model.head.loss_module.register_forward_pre_hook(loss_input_dtype)
    wrapper = CPUBF16OptimWrapper(optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1))
    before = copy.deepcopy(model.state_dict())
    with wrapper.optim_context(model):
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = model(**data, mode='loss')
    assert seen['backbone'] == torch.bfloat16
    # the classification loss (soft mixup targets) from float32 logits: the
    # bfloat16 linear output is promoted by the float32 scale s
    assert seen['head_loss'] == torch.float32
    assert losses['loss_cls'].dtype == torch.float32
    for name in ('loss_recon', 'loss_latent_aug'):
        assert losses[name].dtype == torch.float32, name
    loss, _ = model.parse_losses(losses)
    wrapper.update_params(loss)
    after = model.state_dict()
    changed = [k for k, v in after.items() if v.is_floating_point()
               and not torch.equal(v, before[k])]
    assert 'neck.latent_pool' in changed
    assert any(k.startswith('backbone.') for k in changed)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # the same step in float32 gives nearly the same loss
    model32, batch32 = _tiny_model_and_batch()
    model32.neck.aug_loss.progress = 0.5
    data = model32.data_preprocessor(copy.deepcopy(batch32), True)
    torch.manual_seed(0)
    loss32, _ = model32.parse_losses(model32(**data, mode='loss'))
    assert loss.item() == pytest.approx(loss32.item(), rel=0.05)


def test_train_amp_on_cpu_runs_bf16_through_the_runner(tmp_path,
                                                       bf16_cpu):
    work = tmp_path / 'work'
    assert run_in_process('train', TINY_CONFIG, '--work-dir', work,
                          '--amp') == 0
    (dumped, ) = work.glob('*/vis_data/config.py')
    cfg = Config.fromfile(str(dumped))
    assert cfg.optim_wrapper.type == 'CPUBF16OptimWrapper'
    (scalars, ) = work.glob('*/vis_data/scalars.json')
    losses = [json.loads(line)['loss'] for line in scalars.read_text()
              .splitlines() if '"loss"' in line]
    assert len(losses) == 28 and all(0 < v < 10 for v in losses)
    assert (work / 'epoch_4.pth').exists()
