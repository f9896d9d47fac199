"""What the user asked to export: a zoo name, a `module:callable` factory, or an ONNX file."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.errors import EdgebenchError
from edgebench.models.spec import ModelSpec

if TYPE_CHECKING:  # imported where used: resolving an ONNX file or a factory needs neither
    import onnx
    import torch


@dataclass(frozen=True)
class ExportSource:
    name: str
    ref: str  # recorded in the manifest: zoo:<name> | factory:<module:callable> | onnx:<path>
    input_shape: tuple[int, ...] | None
    spec: ModelSpec | None = None
    build: Callable[[], torch.nn.Module] | None = None  # None for an ONNX file
    onnx_path: Path | None = None

    def __post_init__(self) -> None:
        check_artifact_name(self.name)


def check_artifact_name(name: str) -> None:
    """An artifact name is one folder name inside the output folder: nothing that leads out of it (`..`,
    `/abs`, `a/b`) or names the output folder itself (`.`), so `--force` can only ever replace that folder."""
    if name in ("", ".", "..") or "/" in name or "\0" in name or name.endswith(".failed"):
        raise EdgebenchError(f"artifact name {name!r} is not a plain folder name",
                             hint="pass --name with a plain name such as mynet (no '/', '..', '.' or '.failed')")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or shape[0] != 1 or min(shape) <= 0:
        raise EdgebenchError(f"bad input shape '{text}'", hint="give N,C,H,W with N=1, e.g. 1,3,224,224")
    return shape


def resolve_source(target: str, input_shape: tuple[int, ...] | None = None, name: str | None = None,
                   seed: int = 0) -> ExportSource:
    if target.endswith(".onnx") or Path(target).is_file():
        return _onnx_source(Path(target), input_shape, name)
    if ":" in target:
        return _factory_source(target, input_shape, name)
    from edgebench.models.registry import create_model, get_spec, resolve

    resolved = resolve(target)  # raises with the closest names when unknown
    spec = get_spec(resolved)
    if input_shape is not None and tuple(input_shape) != spec.input_shape:
        raise EdgebenchError(f"{resolved} takes {spec.input_shape}, not {tuple(input_shape)}",
                             hint="zoo models have a fixed input; export your own module for other shapes")
    return ExportSource(name or resolved, f"zoo:{resolved}", spec.input_shape, spec,
                        build=lambda: create_model(resolved, seed=seed))


def _onnx_source(path: Path, input_shape, name) -> ExportSource:
    if not path.is_file():
        raise EdgebenchError(f"no such ONNX file: {path}")
    return ExportSource(name or path.stem, f"onnx:{path}", input_shape, onnx_path=path)


def _factory_source(target: str, input_shape, name) -> ExportSource:
    module_name, _, attr = target.partition(":")
    if input_shape is None:
        raise EdgebenchError(f"{target}: a factory needs --input-shape", hint="e.g. --input-shape 1,3,224,224")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of the user's module
        raise EdgebenchError(f"cannot import '{module_name}': {type(exc).__name__}: {exc}",
                             hint="is its package installed or on PYTHONPATH?") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise EdgebenchError(f"'{module_name}' has no callable '{attr}'")

    def build() -> torch.nn.Module:
        import torch

        try:
            net = factory()
        except Exception as exc:
            raise EdgebenchError(f"{target}() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(net, torch.nn.Module):
            raise EdgebenchError(f"{target}() returned {type(net).__name__}, not a torch.nn.Module")
        return net

    return ExportSource(name or attr, f"factory:{target}", input_shape, build=build)


def load_onnx(path: Path) -> onnx.ModelProto:
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf decode errors have many types
        raise EdgebenchError(f"{path} is not a loadable ONNX file: {type(exc).__name__}: {exc}") from exc
