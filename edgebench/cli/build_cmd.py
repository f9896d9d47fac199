"""`edgebench build`: cross-build NCNN and edgebench-runner for an arch (or find them in the cache)."""

from __future__ import annotations

import json
import time

import click

from edgebench.cli import main
from edgebench.ncnn_tools.archs import ARCH_NAMES
from edgebench.ncnn_tools.build import build_runtime


@main.command()
@click.option("--arch", type=click.Choice(ARCH_NAMES), required=True,
              help="armv7 = Cortex-A9 (i.MX6; VFPv3 + NEON), aarch64 = Cortex-A53/A72, host = this machine.")
@click.option("--force", is_flag=True, help="Rebuild even when the cache holds this runtime.")
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True, help="Parallel compile jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def build(arch: str, force: bool, jobs: int, as_json: bool) -> None:
    """Build the pinned NCNN and edgebench-runner for ARCH; print the runner's path (details on stderr).

    A second build of the same inputs is free (cached by NCNN version, arch, flags, layer list and runner
    source under the edgebench cache dir, EDGEBENCH_CACHE to move it).

    \b
    Examples:
      edgebench build --arch armv7
      qemu-arm -cpu cortex-a9 $(edgebench build --arch armv7) --param model.param --shape 3,224,224
      edgebench build --arch host --json
    """
    started = time.monotonic()
    runtime = build_runtime(arch, force=force, jobs=jobs, progress=True)  # rich draws on stderr
    elapsed = time.monotonic() - started
    if as_json:
        click.echo(json.dumps({"arch": runtime.arch, "runner": str(runtime.runner), "key": runtime.key,
                               "ncnn_version": runtime.ncnn_version, "compiler": runtime.compiler,
                               "toolchain_flags": runtime.toolchain_flags, "cached": runtime.from_cache,
                               "elapsed_s": round(elapsed, 2), "build_seconds": runtime.build_seconds}))
        return
    click.echo(str(runtime.runner))
    state = f"cached (built in {runtime.build_seconds:.0f} s on {runtime.built_utc})" if runtime.from_cache \
        else f"built in {elapsed:.0f} s"
    click.echo(f"  arch {runtime.arch}, NCNN {runtime.ncnn_version}, key {runtime.key[:16]}, {state}", err=True)
