"""The zoo's registry, in the manner of timm: each variant is declared once, next to its family's builder.

    @register_model(ModelSpec(name="fd_mobilenet_1.0x", ...), ModelSpec(name="fd_mobilenet_0.5x", ...))
    def fd_mobilenet(spec: ModelSpec) -> nn.Module: ...

`create_model("fd_mobilenet_0.5x", seed=0)` builds it with seeded weights and calibrated BN statistics;
`resolve("fd_mobilenet")` maps a bare family name to its default variant.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from edgebench.errors import EdgebenchError
from edgebench.models.init import init_seeded
from edgebench.models.spec import ModelSpec

Builder = Callable[[ModelSpec], nn.Module]

# Family modules register their variants when imported; they are imported on first use so that importing the
# registry (or spec.py, which manifests use) stays cheap.
_FAMILY_MODULES = ("fd_mobilenet", "mobilenet_v1", "shufflenet_v1", "effnet")


@dataclass(frozen=True)
class _Entry:
    spec: ModelSpec
    builder: Builder


_ENTRIES: dict[str, _Entry] = {}
_loaded = False


def register_model(*specs: ModelSpec) -> Callable[[Builder], Builder]:
    """Declare `specs` as variants built by the decorated `builder(spec) -> nn.Module`."""

    def decorate(builder: Builder) -> Builder:
        for spec in specs:
            if spec.name in _ENTRIES:
                raise ValueError(f"model {spec.name!r} is registered twice")
            _ENTRIES[spec.name] = _Entry(spec, builder)
        return builder

    return decorate


def _entries() -> dict[str, _Entry]:
    global _loaded
    if not _loaded:
        for module in _FAMILY_MODULES:
            importlib.import_module(f"edgebench.models.{module}")
        _check_defaults()
        _loaded = True
    return _ENTRIES


def _check_defaults() -> None:
    """Every family has exactly one default variant, and no family name is also a variant name."""
    defaults: dict[str, list[str]] = {}
    for entry in _ENTRIES.values():
        defaults.setdefault(entry.spec.family, [])
        if entry.spec.is_default:
            defaults[entry.spec.family].append(entry.spec.name)
    for family, names in defaults.items():
        if len(names) != 1:
            raise ValueError(f"family {family!r} needs exactly one default variant, has {names}")
        if family in _ENTRIES:
            raise ValueError(f"family name {family!r} is also a variant name")


def list_models(pattern: str = "*") -> list[str]:
    """Registered variant names matching a shell-style pattern, in declaration order."""
    return [name for name in _entries() if fnmatch.fnmatchcase(name, pattern)]


def list_families() -> list[str]:
    return list(dict.fromkeys(e.spec.family for e in _entries().values()))


def default_variant(family: str) -> str:
    """The variant a bare family name resolves to."""
    for entry in _entries().values():
        if entry.spec.family == family and entry.spec.is_default:
            return entry.spec.name
    raise _unknown(family)


def resolve(name: str) -> str:
    """A variant name as given, or a bare family name's default variant; unknown names suggest close ones."""
    entries = _entries()
    if name in entries:
        return name
    if name in list_families():
        return default_variant(name)
    raise _unknown(name)


def get_spec(name: str) -> ModelSpec:
    return _entries()[resolve(name)].spec


def create_model(name: str, seed: int = 0) -> nn.Module:
    """Build variant (or family default) `name` with weights drawn from `seed`, in eval mode.

    The global torch RNG is left as it was: layer constructors draw from it, so construction runs inside
    `fork_rng`, and every value that stays in the model comes from a generator seeded with `seed`.
    """
    entry = _entries()[resolve(name)]
    with torch.random.fork_rng(devices=[]):
        model = entry.builder(entry.spec)
    return init_seeded(model, seed, entry.spec.input_shape)


def suite(name: str) -> list[str]:
    """Variants in suite `name` ("paper": the FD-MobileNet latency table's nine models), largest budget first."""
    members = [e.spec for e in _entries().values() if name in e.spec.suites]
    if not members:
        known = sorted({s for e in _entries().values() for s in e.spec.suites})
        raise EdgebenchError(f"unknown suite {name!r}", hint=f"known suites: {', '.join(known)}")
    # Stable sort: within a budget, families keep their declaration order (FD-MobileNet, MobileNet, ShuffleNet).
    return [s.name for s in sorted(members, key=lambda s: -(s.budget_mflops or 0))]


def _unknown(name: str) -> EdgebenchError:
    candidates = list(_entries()) + list_families()
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "run `edgebench models` to list the zoo"
    return EdgebenchError(f"unknown model {name!r}", hint=hint)
