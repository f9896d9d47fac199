"""What a session builds to run on a board: the runtime (NCNN + edgebench-runner) for an arch, its profiling
variant, and the QEMU counting plugin for an emulator. A Session takes a provider of them, so a test can hand
it stand-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from edgebench.ncnn_tools.build import Runtime


class Runtimes(Protocol):
    def runner(self, arch: str) -> Runtime:
        """The timed runtime for `arch`."""

    def profiler(self, arch: str) -> Runtime:
        """The per-layer profiling runtime for `arch` (NCNN_BENCHMARK)."""

    def plugin(self, emulator: str) -> Path:
        """The counting plugin built for `emulator` (e.g. "qemu-arm")."""


class BuiltRuntimes:
    """The runtimes edgebench cross-builds and caches (a first build says so and shows its stages)."""

    def runner(self, arch: str) -> Runtime:
        from edgebench.ncnn_tools.build import build_runtime

        return build_runtime(arch)

    def profiler(self, arch: str) -> Runtime:
        from edgebench.ncnn_tools.build import build_runtime

        return build_runtime(arch, profile=True)

    def plugin(self, emulator: str) -> Path:
        from edgebench.ncnn_tools.plugin import build_plugin, require_plugin_support

        require_plugin_support(emulator)
        return build_plugin(emulator)
