"""The runner's JSON document (schema edgebench-runner/3) as typed dataclasses.

Parsing is separate from running: the same `parse_runner_output` reads stdout captured locally, under QEMU or
over SSH.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass

from edgebench.errors import EdgebenchError
from edgebench.results.result import NcnnCpuInfo, RunSettings
from edgebench.serde import from_dict

SCHEMA = "edgebench-runner/3"  # /3: cpus, cpus_used, build.profile, layers


@dataclass(frozen=True)
class RunnerBuild:
    arch: str
    compiler: str
    flags: str
    openmp: bool
    profile: bool  # NCNN_BENCHMARK: the report has per-layer times
    markers: str


@dataclass(frozen=True)
class RunnerSettings:
    """Everything the runner was asked to do, as it understood it."""

    param: str
    bin: str | None  # None = generated zero weights
    shape: list[int]  # C, H, W
    input: str | None  # None = seeded input
    seed: int
    input_blob: str
    output_blob: str
    threads: int
    powersave: int
    cpus: list[int] | None  # --cpus; None = chosen by powersave
    warmup: int
    loops: int
    min_time_ms: float
    fp16_packed: bool
    fp16_storage: bool
    fp16_arithmetic: bool
    bf16_storage: bool
    packing_layout: bool
    output_values: bool

    def run_settings(self) -> RunSettings:
        """The part a stored RunResult keeps."""
        return RunSettings(threads=self.threads, warmup=self.warmup, loops=self.loops, min_time_ms=self.min_time_ms,
                           powersave=self.powersave, cpus=self.cpus, seed=self.seed, fp16_packed=self.fp16_packed,
                           fp16_storage=self.fp16_storage, fp16_arithmetic=self.fp16_arithmetic,
                           bf16_storage=self.bf16_storage, packing_layout=self.packing_layout)


@dataclass(frozen=True)
class LoadTimes:
    param: float
    model: float


@dataclass(frozen=True)
class Checksum:
    sum: float
    abs_sum: float
    l2: float


@dataclass(frozen=True)
class RunnerOutput:
    blob: str
    shape: list[int]  # outermost first, as many dims as the output has
    checksum: Checksum
    values: list[float] | None = None  # flattened, only with --output-values; NaN/Inf arrive as NaN


@dataclass(frozen=True)
class RunnerLayer:
    """One layer's time in each timed iteration (profiling runtimes only), in the order NCNN ran them."""

    type: str
    name: str
    samples_ms: list[float]  # NCNN_BENCHMARK prints 0.01 ms steps


@dataclass(frozen=True)
class RunnerReport:
    schema: str
    ncnn_version: str
    build: RunnerBuild
    settings: RunnerSettings
    timed_region: str
    load_ms: LoadTimes
    first_inference_ms: float
    samples_ms: list[float]
    peak_rss_kb: int
    output: RunnerOutput
    cpu: NcnnCpuInfo
    cpus_used: list[int]  # the CPUs the run was pinned to (NCNN's numbering)
    layers: list[RunnerLayer] | None  # None unless build.profile


def _nulls_to_nan(data: dict) -> dict:
    """The runner writes non-finite floats as null (JSON has no NaN)."""
    out = dict(data)
    checksum = out.get("checksum")
    if isinstance(checksum, dict):
        out["checksum"] = {k: math.nan if v is None else v for k, v in checksum.items()}
    if isinstance(out.get("values"), list):
        out["values"] = [math.nan if v is None else v for v in out["values"]]
    return out


def parse_runner_output(stdout: str, exit_code: int = 0, where: str = "edgebench-runner") -> RunnerReport:
    """The report in the runner's stdout, or EdgebenchError with the runner's own error message.

    where: names the run in messages (e.g. "edgebench-runner on imx6").
    """
    text = stdout.strip()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        shown = text[-300:] if text else "(no output)"
        raise EdgebenchError(f"{where} exited {exit_code} without a JSON document: {shown}",
                             hint="a crash before main() or a wrong binary for this CPU") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise EdgebenchError(f"{where} printed JSON that is not {SCHEMA}")
    if "error" in doc:
        err = doc["error"]
        raise EdgebenchError(f"{where} failed ({err.get('kind', '?')}): {err.get('message', '')}")
    if exit_code != 0:
        raise EdgebenchError(f"{where} exited {exit_code} after printing a complete report")
    try:
        return from_dict(RunnerReport, {**doc, "output": _nulls_to_nan(doc.get("output", {}))})
    except (TypeError, ValueError) as exc:
        raise EdgebenchError(f"{where} printed a malformed report: {exc}") from exc


# -- progress on stderr -------------------------------------------------------------------------------------------

PROGRESS_PREFIX = "edgebench-progress: "  # the runner's progress() in edgebench_runner.cpp


class LoopPhase(enum.Enum):
    WARMUP = "warm-up"
    TIMED = "timed"


@dataclass(frozen=True)
class LoopProgress:
    """One finished loop, as the runner announces it on stderr while it runs."""

    phase: LoopPhase
    done: int
    total: int  # 0: the count is not fixed (--min-time-ms decides it)

    def describe(self) -> str:
        return f"{self.phase.value} {self.done}/{self.total}" if self.total else f"{self.phase.value} {self.done}"


def parse_progress(line: str) -> LoopProgress | None:
    """The progress a stderr line announces, or None for any other line."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    parts = line[len(PROGRESS_PREFIX):].split()
    try:
        phase, done, total = LoopPhase(parts[0]), int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return None
    return LoopProgress(phase, done, total)


def without_progress(stderr: str) -> str:
    """The runner's stderr without its progress lines: what is left is what went wrong, if anything."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith(PROGRESS_PREFIX))
