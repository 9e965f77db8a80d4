"""Tests of the CIFAR ResNet (LDAM-DRW / MiSLAS resnet32) backbone."""
import math

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

import lcreg  # noqa: F401  (registration)
from lcreg.models.backbones.cifar_resnet import (CifarBasicBlock, CifarResNet,
                                                 ZeroPadShortcut)


def conv_params(c_in, c_out):
    return 3 * 3 * c_in * c_out  # 3x3 kernel, no bias


def bn_params(c):
    return 2 * c  # weight + bias


def expected_param_count(n):
    """Parameters of a 6n+2 CIFAR ResNet with option-A shortcuts, by hand."""
    stem = conv_params(3, 16) + bn_params(16)
    total = stem
    c_in = 16
    for c in (16, 32, 64):
        first = conv_params(c_in, c) + conv_params(c, c) + 2 * bn_params(c)
        other = 2 * conv_params(c, c) + 2 * bn_params(c)
        total += first + (n - 1) * other
        c_in = c
    return total


def test_param_count_resnet32():
    model = CifarResNet(depth=32)
    n_params = sum(p.numel() for p in model.parameters())
    # 432 + 32 stem; 23,360 + 88,192 + 351,488 for the three stages.
    assert expected_param_count(5) == 463504
    assert n_params == 463504
    assert CifarResNet(depth=20).blocks_per_stage == 3
    assert sum(p.numel() for p in CifarResNet(depth=20).parameters()) == \
        expected_param_count(3)


def test_output_shapes_and_registry():
    model = MODELS.build(dict(type='CifarResNet', depth=32))
    model.eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (2, 64, 8, 8)

    model = CifarResNet(depth=8, out_indices=(0, 1, -1))
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16),
                                              (2, 64, 8, 8)]
    assert len(model.layer1) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match='6n\\+2'):
        CifarResNet(depth=33)
    with pytest.raises(ValueError, match='out_indices'):
        CifarResNet(out_indices=(3, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        CifarResNet(frozen_stages=4)


def test_option_a_shortcut_is_parameter_free_and_exact():
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    assert len(list(shortcut.parameters())) == 0
    assert len(list(shortcut.buffers())) == 0
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.all(y[:, :8] == 0) and torch.all(y[:, 24:] == 0)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])

    # Inside the network: only the first block of stages 2 and 3 subsamples,
    # and no shortcut anywhere owns a parameter (no 1x1 projection convs).
    model = CifarResNet(depth=32)
    pad_shortcuts = [m for m in model.modules()
                     if isinstance(m, ZeroPadShortcut)]
    assert len(pad_shortcuts) == 2
    for block in model.modules():
        if isinstance(block, CifarBasicBlock):
            assert sum(p.numel() for p in block.shortcut.parameters()) == 0
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)
                   for m in model.modules())


def test_block_residual_identity():
    # With the second BN's weight and bias at 0, a block reduces to relu(x).
    block = CifarBasicBlock(16, 16)
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    block.eval()
    x = torch.randn(2, 16, 4, 4)
    assert torch.allclose(block(x), torch.relu(x))


def test_kaiming_normal_init():
    torch.manual_seed(0)
    model = CifarResNet(depth=32)
    model.init_weights()
    weight = model.layer3[1].conv1.weight  # fan_in = 64 * 9 = 576
    assert weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.03)
    assert torch.all(model.layer3[1].bn1.weight == 1)
    assert torch.all(model.layer3[1].bn1.bias == 0)


def test_frozen_stages():
    model = CifarResNet(depth=8, frozen_stages=2)
    model.train()
    frozen = [model.conv1, model.bn1, model.layer1, model.layer2]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert model.layer3.training and model.layer3[0].bn1.training

    # Frozen BN running statistics do not move in train mode; free ones do.
    frozen_mean = model.layer2[0].bn1.running_mean.clone()
    free_mean = model.layer3[0].bn1.running_mean.clone()
    out = model(torch.randn(4, 3, 16, 16))[0]
    assert torch.equal(model.layer2[0].bn1.running_mean, frozen_mean)
    assert not torch.equal(model.layer3[0].bn1.running_mean, free_mean)

    out.sum().backward()
    assert model.layer3[0].conv1.weight.grad is not None
    assert model.layer2[0].conv1.weight.grad is None
    assert model.conv1.weight.grad is None

    stem_only = CifarResNet(depth=8, frozen_stages=0)
    stem_only.train()
    assert not stem_only.conv1.weight.requires_grad
    assert not stem_only.bn1.training
    assert stem_only.layer1[0].conv1.weight.requires_grad


def test_norm_eval():
    model = CifarResNet(depth=8, norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not bn.training for bn in bns)
    assert model.layer1[0].conv1.training
    # parameters stay trainable with norm_eval (only statistics are frozen)
    assert all(p.requires_grad for p in model.parameters())
    model.eval()
    model.train(True)
    assert all(not bn.training for bn in bns)
    assert CifarResNet(depth=8).train().bn1.training


def test_gradient_flows_to_every_parameter():
    model = CifarResNet(depth=8)
    model.train()
    out = model(torch.randn(2, 3, 32, 32))[0]
    out.pow(2).mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
