"""Where edgebench keeps things: a cache for rebuildable files and a data dir for results.

Both follow XDG and can be moved with EDGEBENCH_CACHE / EDGEBENCH_DATA (CI and tests point them at a scratch
folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from edgebench.errors import EdgebenchError


def ensure_dir(path: Path, what: str, hint: str | None = None) -> Path:
    """mkdir -p `path`, or one clear error naming `what` it is for (never an OSError traceback)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgebenchError(f"cannot create {what} {path}: {exc.strerror or exc}", hint=hint) from None
    return path


def cache_dir() -> Path:
    """Rebuildable things: the NCNN sdist, cross-built runtimes, the QEMU plugin."""
    env = os.environ.get("EDGEBENCH_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgebench"
    return ensure_dir(base, "the cache folder", "point EDGEBENCH_CACHE at a writable folder")


def data_dir(create: bool = True) -> Path:
    """Things that must not be lost: results store, emulated targets' state. Readers pass create=False:
    reading never creates anything."""
    env = os.environ.get("EDGEBENCH_DATA")
    base = Path(env) if env else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edgebench"
    return ensure_dir(base, "the data folder", "point EDGEBENCH_DATA at a writable folder") if create else base
