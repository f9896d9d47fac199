"""The model zoo: a registry of named variants with their papers' numbers.

`from edgebench.models import create_model` works (timm style); the registry, and torch with it, is imported only
when one of its names is first used, so importing `edgebench.models.spec` (manifests do) stays cheap.
"""

from __future__ import annotations

_REGISTRY_API = ("create_model", "list_models", "list_families", "get_spec", "resolve", "default_variant", "suite",
                 "register_model")


def __getattr__(name: str):
    if name in _REGISTRY_API:
        from edgebench.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
