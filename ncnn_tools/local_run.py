"""Run edgebench-runner on this machine, natively or under a user-mode emulator, and parse its report."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.report import RunnerReport, parse_runner_output
from edgebench.ncnn_tools.runner_options import RunnerOptions


def run_runner(runner: Path, options: RunnerOptions, emulator: Sequence[str] = (),
               timeout: float | None = None) -> RunnerReport:
    """Execute `[*emulator, runner, *options.argv()]` (e.g. emulator=["qemu-arm", "-cpu", "cortex-a9"]).

    The runner's JSON error object becomes an EdgebenchError; so does a timeout or a missing emulator.
    """
    cmd = [*emulator, str(runner), *options.argv()]
    where = " ".join([*emulator, Path(runner).name])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise EdgebenchError(f"cannot execute {cmd[0]}: {exc.strerror}",
                             hint="apt-get install qemu-user" if emulator else "build it: edgebench build") from exc
    except subprocess.TimeoutExpired as exc:
        raise EdgebenchError(f"{where} did not finish within {timeout:g} s") from exc
    if proc.returncode < 0 and not proc.stdout.strip():
        raise EdgebenchError(f"{where} was killed by signal {-proc.returncode}: {proc.stderr.strip()[-300:]}")
    return parse_runner_output(proc.stdout, proc.returncode, where)
