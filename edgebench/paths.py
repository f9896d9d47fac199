"""Where edgebench keeps things: a cache for rebuildable files and a data dir for results.

Both follow XDG and can be moved with EDGEBENCH_CACHE / EDGEBENCH_DATA (CI and tests point them at a scratch
folder).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Rebuildable things: the NCNN sdist, cross-built runtimes, the QEMU plugin."""
    env = os.environ.get("EDGEBENCH_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgebench"
    base.mkdir(parents=True, exist_ok=True)
    return base


def data_dir() -> Path:
    """Things that must not be lost: results store, emulated targets' state."""
    env = os.environ.get("EDGEBENCH_DATA")
    base = Path(env) if env else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edgebench"
    base.mkdir(parents=True, exist_ok=True)
    return base
