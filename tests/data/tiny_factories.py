"""User-style model factories for the export tests (what `edgebench export pkg.mod:fn` imports)."""

import torch


def small_cnn() -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False), torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(), torch.nn.Conv2d(16, 24, 1, bias=False), torch.nn.BatchNorm2d(24), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(24, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in net:
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net


class _ArgMax(torch.nn.Module):
    """argmax + a cast: pnnx (20261020) passes the cast through as `Tensor.to`, a layer NCNN cannot load."""

    def forward(self, x):
        return torch.argmax(x.flatten(1), 1, keepdim=True).float()


def argmax_net() -> torch.nn.Module:
    return _ArgMax()


class _TopK(torch.nn.Module):
    """TopK: pnnx (20261020) dies with SIGSEGV converting it."""

    def forward(self, x):
        return torch.topk(x.flatten(1), 5).values


def topk_net() -> torch.nn.Module:
    return _TopK()


def not_a_module():
    return 42


def raises():
    raise RuntimeError("factory exploded")


class _GridSample(torch.nn.Module):
    """grid_sample: torch exports it from opset 16 only."""

    def forward(self, x):
        grid = torch.zeros(x.shape[0], x.shape[2], x.shape[3], 2)
        return torch.nn.functional.grid_sample(x, grid, align_corners=False)


def grid_sample_net() -> torch.nn.Module:
    return _GridSample()
