"""Seeded weights and real BatchNorm statistics for a zoo model (there are no pretrained weights here).

Every tensor is drawn from a `torch.Generator` seeded from the caller's seed; the global RNG is never touched,
so creating a model does not change what the caller's own `torch.randn` returns. BatchNorm's running
statistics are then calibrated by one forward pass of seeded inputs in train mode with `momentum=None`
(a plain average over the batch): in eval mode every BN then normalises to about zero mean and unit variance,
activations stay O(1) through the whole depth and parity checks see real signal, not near-zeros or overflow.
"""

from __future__ import annotations

import torch
from torch import nn

CALIBRATION_BATCH = 2  # images for BN calibration: >= 32 samples per channel even at 4x4 (EffNet's end)


def init_seeded(model: nn.Module, seed: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Draw every parameter from `seed`, calibrate BN statistics, and return `model` in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            _init_module(name, module, gen)
        _calibrate_batchnorm(model, gen, input_shape)
    return model.eval()


def _init_module(name: str, module: nn.Module, gen: torch.Generator) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        # He init keeps the pre-BN variance O(1); BN calibration then fixes the scale exactly.
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=gen)
        if module.bias is not None:
            module.bias.copy_(torch.empty_like(module.bias).uniform_(-0.1, 0.1, generator=gen))
    elif isinstance(module, nn.BatchNorm2d):
        # Non-trivial affine terms, so folding BN into the conv (exporters do) is exercised for real.
        module.weight.copy_(torch.empty_like(module.weight).uniform_(0.5, 1.5, generator=gen))
        module.bias.copy_(torch.empty_like(module.bias).normal_(0.0, 0.2, generator=gen))
    elif any(True for _ in module.parameters(recurse=False)):
        raise TypeError(f"{name}: {type(module).__name__} has parameters that init_seeded does not draw")


def _calibrate_batchnorm(model: nn.Module, gen: torch.Generator, input_shape: tuple[int, ...]) -> None:
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved_momentum = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch the running stats are that batch's stats
    x = torch.randn((CALIBRATION_BATCH, *input_shape[1:]), generator=gen)
    model.train()
    model(x)
    for m, momentum in zip(norms, saved_momentum):
        m.momentum = momentum
        m.num_batches_tracked.zero_()
