"""The zoo's registry, seeded construction and the health of every model's output.

Models up to ~41 MFLOPs build and run in well under a second each; the six large ones (MobileNet 1.0/0.75/
0.5, FD-MobileNet 1x, ShuffleNet 1x) are marked slow (CI runs them).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgebench.errors import EdgebenchError
from edgebench.models.layers import ChannelShuffle, scaled
from edgebench.models.registry import (create_model, default_variant, get_spec, list_families, list_models, resolve,
                                       suite)

PAPER_SUITE = ["mobilenet_v1_0.5x", "fd_mobilenet_1.0x", "shufflenet_v1_g3_1.0x",
               "mobilenet_v1_0.25x", "fd_mobilenet_0.5x", "shufflenet_v1_g3_0.5x",
               "mobilenet_v1_0.125x", "fd_mobilenet_0.25x", "shufflenet_v1_g3_0.25x"]
LIGHT = {"mobilenet_v1_0.25x", "mobilenet_v1_0.125x", "fd_mobilenet_0.5x", "fd_mobilenet_0.25x",
         "shufflenet_v1_g3_0.5x", "shufflenet_v1_g3_0.25x", "effnet_cifar10"}


def by_weight(names):
    """Parametrize over `names`, marking the heavy ones slow."""
    return [pytest.param(n, marks=() if n in LIGHT else pytest.mark.slow) for n in names]


def test_zoo_declares_every_required_variant():
    expected = {"fd_mobilenet_1.0x", "fd_mobilenet_0.5x", "fd_mobilenet_0.25x",
                *(f"mobilenet_v1_{w}x" for w in ("1.0", "0.75", "0.5", "0.25", "0.125")),
                *(f"shufflenet_v1_g3_{w}x" for w in ("1.0", "0.5", "0.25")),
                *(f"shufflenet_v1_g{g}_1.0x" for g in (1, 2, 4, 8)), "effnet_cifar10"}
    assert set(list_models()) == expected
    assert list_models("shufflenet_v1_g3_*") == ["shufflenet_v1_g3_1.0x", "shufflenet_v1_g3_0.5x",
                                                 "shufflenet_v1_g3_0.25x"]


def test_paper_suite_is_the_latency_table_in_budget_order():
    assert suite("paper") == PAPER_SUITE
    budgets = [get_spec(n).budget_mflops for n in PAPER_SUITE]
    assert budgets == [140] * 3 + [40] * 3 + [12] * 3
    assert all(get_spec(n).budget_mflops is None for n in set(list_models()) - set(PAPER_SUITE))


def test_specs_carry_architecture_knobs_and_paper_figures():
    fd = get_spec("fd_mobilenet_0.5x")
    assert (fd.family, fd.width, fd.input_size, fd.num_classes, fd.groups) == ("fd_mobilenet", 0.5, 224, 1000, None)
    assert (fd.paper.mflops, fd.paper.top1) == (40, 56.3) and fd.paper.source
    sh = get_spec("shufflenet_v1_g8_1.0x")
    assert (sh.groups, sh.width, sh.paper.mflops) == (8, 1.0, 137)
    eff = get_spec("effnet_cifar10")
    assert (eff.input_shape, eff.num_classes, eff.paper.mflops) == ((1, 3, 32, 32), 10, None)
    assert "images" in eff.paper.note  # says why there is no paper figure


def test_bare_family_resolves_to_its_default():
    assert list_families() == ["mobilenet_v1", "fd_mobilenet", "shufflenet_v1", "effnet"]
    assert resolve("fd_mobilenet") == "fd_mobilenet_1.0x" == default_variant("fd_mobilenet")
    assert resolve("mobilenet_v1") == "mobilenet_v1_1.0x"
    assert resolve("shufflenet_v1") == "shufflenet_v1_g3_1.0x"
    assert resolve("effnet") == "effnet_cifar10"
    assert resolve("fd_mobilenet_0.25x") == "fd_mobilenet_0.25x"
    assert get_spec("shufflenet_v1").name == "shufflenet_v1_g3_1.0x"


def test_unknown_names_suggest_the_closest():
    with pytest.raises(EdgebenchError) as exc:
        resolve("fd_mobilenet_0.5")
    assert "unknown model 'fd_mobilenet_0.5'" in exc.value.message
    assert "fd_mobilenet_0.5x" in exc.value.hint
    with pytest.raises(EdgebenchError) as exc:
        create_model("shufflenet_g3")
    assert "shufflenet_v1" in exc.value.hint
    with pytest.raises(EdgebenchError) as exc:
        get_spec("zzz")
    assert "edgebench models" in exc.value.hint
    with pytest.raises(EdgebenchError, match="unknown suite 'papers'"):
        suite("papers")


def test_seed_decides_every_weight_and_leaves_the_global_rng_alone():
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    a = create_model("fd_mobilenet_0.25x", seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = create_model("fd_mobilenet_0.25x", seed=7)
    c = create_model("fd_mobilenet_0.25x", seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    floats = [k for k in sa if sa[k].is_floating_point()]
    assert all(not torch.equal(sa[k], sc[k]) for k in floats)
    assert not a.training


def test_batchnorm_statistics_are_calibrated_not_defaults():
    model = create_model("shufflenet_v1_g3_0.25x")
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms
    for bn in norms:
        assert bn.running_mean.abs().max() > 1e-3  # not reset_running_stats()'s zeros
        assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
        assert bool(torch.isfinite(bn.running_var).all()) and bool((bn.running_var >= 0).all())
        assert bn.momentum == 0.1  # calibration's momentum=None is not left behind


@pytest.mark.parametrize("name", by_weight(list_models()))
def test_seeded_forward_has_healthy_spread(name):
    spec = get_spec(name)
    model = create_model(name, seed=0)
    x = torch.randn(spec.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        # Activations stay O(1) through the depth: look at the last feature map too, not only the logits.
        features = model.features(x if not hasattr(model, "stem") else model.stem(x))
    assert tuple(y.shape) == (1, spec.num_classes)
    assert bool(torch.isfinite(y).all())
    assert 0.1 < float(y.std()) < 20, f"logits std {float(y.std())}"
    assert 0.1 < float(features.std()) < 20, f"feature std {float(features.std())}"
    assert float((features != 0).float().mean()) > 0.2  # not a dead network


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert ChannelShuffle(3)(x).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    assert ChannelShuffle(2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shufflenet_widths_follow_the_reference_rounding():
    # int(c * s) rounded up to a multiple of g (FD-MobileNet authors' ShuffleNet code); Megvii's 0.5x g=3.
    assert [scaled(c, 0.5, 3) for c in (24, 240, 480, 960)] == [12, 120, 240, 480]
    assert [scaled(c, 0.25, 3) for c in (24, 240, 480, 960)] == [6, 60, 120, 240]
    assert scaled(200, 0.25, 2) == 50 and scaled(272, 0.25, 4) == 68 and scaled(24, 0.25, 8) == 8
    assert [scaled(c, 0.125) for c in (32, 1024)] == [4, 128]  # MobileNet: plain int(); FD text: 128 at 0.125
    model = create_model("shufflenet_v1_g3_0.5x")
    assert model.stem.conv1.conv.out_channels == 12
    stage2_first = model.features.stage2[0]
    assert stage2_first.compress.conv.groups == 1  # Stage2's first 1x1 is not grouped
    assert stage2_first.expand.conv.out_channels == 120 - 12  # concat with the pooled 12-channel shortcut
    assert model.features.stage3[1].compress.conv.groups == 3


def test_grouped_conv_with_indivisible_channels_is_a_clear_error():
    from edgebench.models.layers import ConvNormAct

    with pytest.raises(EdgebenchError, match="not divisible by groups=3"):
        ConvNormAct(10, 12, 1, groups=3)
