"""A baseline file: what one stored run measured, per model, kept as typed JSON for `edgebench check` to compare with.

It records the run's identity (device, NCNN version, runtime build, emulator, runner settings) so a check can
refuse to compare unlike with unlike, and per model everything a check needs: the artifact's sha256 and
MFLOPs, every timed sample (a significance test needs them, a summary alone is not enough) with their summary
for people reading the file, the per-iteration counters and the modeled latency.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebench import __version__
from edgebench.atomic import write_atomically
from edgebench.errors import EdgebenchError
from edgebench.results.result import COUNT_FIELDS, IterationCounts, RunResult, RunSettings, Status
from edgebench.results.stats import Summary, summarize
from edgebench.serde import from_dict, to_dict

FORMAT = "edgebench-baseline"
SCHEMA_VERSION = 1

# Runner settings that only change how many samples are taken, not what one iteration computes.
SAMPLING_SETTINGS = frozenset({"warmup", "loops", "min_time_ms"})


@dataclass(frozen=True)
class RunIdentity:
    """What must match for two runs' figures to be comparable: same board, same NCNN build, same settings."""

    device: str
    arch: str
    ncnn_version: str
    runtime_key: str
    emulator: str | None  # emulator and its version (counts depend on both); None on a real board
    settings: RunSettings
    system_view: str | None = None  # emulated: the board's system view (counts depend on it too)
    ncnn_cpu: str | None = None  # what NCNN detected (its cores, caches and ISA pick its code paths)

    def mismatches(self, other: RunIdentity) -> list[str]:
        """Each difference from `other` (the baseline's) as 'what: baseline -> this', sampling settings aside."""
        out = [
            f"{name}: {getattr(other, name)} -> {getattr(self, name)}"
            for name in ("device", "arch", "ncnn_version", "runtime_key", "emulator", "system_view", "ncnn_cpu")
            if getattr(self, name) != getattr(other, name)
        ]
        for f in dataclasses.fields(RunSettings):
            mine, theirs = getattr(self.settings, f.name), getattr(other.settings, f.name)
            if f.name not in SAMPLING_SETTINGS and mine != theirs:
                out.append(f"runner setting {f.name}: {theirs} -> {mine}")
        return out


@dataclass(frozen=True)
class BaselineModel:
    model: str
    artifact_sha256: str
    mflops: float | None
    emulated: bool  # samples are emulator wall time, not board latency
    samples_ms: list[float]  # every timed iteration, in order
    summary: Summary
    counters: IterationCounts | None  # per-iteration median of each count (exact run to run under QEMU)
    counter_iterations: int  # how many iterations were counted
    modeled_ms: float | None
    # Per-model threshold in percent overriding the check's default (counter tolerance on emulated targets,
    # minimum effect on real boards); edit it in the file, or set it with `baseline save --tolerance M=PCT`.
    tolerance_pct: float | None = None


@dataclass(frozen=True)
class Baseline:
    format: str
    schema_version: int
    created_utc: str
    edgebench_version: str
    run_id: str
    identity: RunIdentity
    models: list[BaselineModel]

    def model(self, name: str) -> BaselineModel | None:
        return next((m for m in self.models if m.model == name), None)


def run_identity(results: list[RunResult]) -> RunIdentity:
    """The identity shared by every result of a run; a run that mixes builds or boards is refused."""
    if not results:
        raise EdgebenchError("no results to take a run identity from")
    first, *others = [_identity_of(r) for r in results]
    diffs = sorted({d for other in others for d in other.mismatches(first)})
    if diffs:
        raise EdgebenchError(f"run {results[0].run_id} mixes results of different builds or boards "
                             f"({'; '.join(diffs)})", "compare runs made by one `edgebench run`")
    return first


def _identity_of(r: RunResult) -> RunIdentity:
    b = r.board
    emulator = None
    if b.emulated:
        emulator = b.emulator or "emulator"
        if b.emulator_version:
            emulator += f" ({b.emulator_version})"
    return RunIdentity(r.device, r.arch, r.ncnn_version, r.runtime_key, emulator, r.settings,
                       system_view=b.system_view, ncnn_cpu=b.ncnn_cpu.describe() if b.ncnn_cpu else None)


def median_counts(counters: list[IterationCounts]) -> IterationCounts:
    """Each count's median over the iterations (the lower middle value: always one that was really counted)."""
    names = COUNT_FIELDS
    table = np.array([[getattr(c, n) for n in names] for c in counters], dtype=np.int64)
    lower_middle = np.sort(table, axis=0)[(len(counters) - 1) // 2]
    return IterationCounts(**{n: int(v) for n, v in zip(names, lower_middle)})


def baseline_from_results(
    run_id: str, results: list[RunResult], *, tolerances: dict[str, float] | None = None
) -> Baseline:
    """A baseline of these results (all of one run, all ok, none without timed samples)."""
    tolerances = tolerances or {}
    unknown = sorted(set(tolerances) - {r.model for r in results})
    if unknown:
        raise EdgebenchError(f"--tolerance names model(s) not in the baseline: {', '.join(unknown)}")
    failed = [r.model for r in results if r.status != Status.OK]
    if failed:
        raise EdgebenchError(f"run {run_id}: {', '.join(failed)} failed; a failed result cannot be a baseline",
                             "re-run those models, or leave them out with --model")
    empty = [r.model for r in results if not r.samples_ms]
    if empty:
        raise EdgebenchError(f"run {run_id}: {', '.join(empty)} recorded no timed samples")
    names = [r.model for r in results]
    several = sorted({n for n in names if names.count(n) > 1})
    if several:
        raise EdgebenchError(f"run {run_id} ran {', '.join(several)} on several boards (a spread run's anchor); "
                             "a baseline holds one result per model", "name the other models with --model")
    identity = run_identity(results)
    models = [
        BaselineModel(
            model=r.model,
            artifact_sha256=r.artifact_sha256,
            mflops=r.mflops,
            emulated=r.board.emulated,
            samples_ms=list(r.samples_ms),
            summary=summarize(r.samples_ms),
            counters=median_counts(r.counters) if r.counters else None,
            counter_iterations=len(r.counters or ()),
            modeled_ms=r.modeled_ms,
            tolerance_pct=tolerances.get(r.model),
        )
        for r in results
    ]
    return Baseline(
        format=FORMAT,
        schema_version=SCHEMA_VERSION,
        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        edgebench_version=__version__,
        run_id=run_id,
        identity=identity,
        models=models,
    )


def save_baseline(baseline: Baseline, path: Path | str) -> None:
    """Write atomically (a temp file renamed over the target): an interrupted save never leaves half a file."""
    path = Path(path)
    if path.is_dir():
        raise EdgebenchError(f"cannot write the baseline to {path}: it is a folder")
    if not path.parent.is_dir():
        raise EdgebenchError(f"cannot write the baseline to {path}: folder {path.parent} does not exist")
    text = json.dumps(to_dict(baseline), indent=2, ensure_ascii=False) + "\n"
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise EdgebenchError(f"cannot write the baseline to {path}: {exc.strerror}") from exc


def load_baseline(path: Path | str) -> Baseline:
    """Read a baseline file; anything missing, unreadable or malformed is one clear EdgebenchError."""
    path = Path(path)
    hint = f"make one with: edgebench baseline save {path} --device DEVICE"
    if not path.exists():
        raise EdgebenchError(f"baseline file {path} does not exist", hint)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgebenchError(f"cannot read baseline file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EdgebenchError(f"baseline file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg})", hint) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EdgebenchError(f"{path} is not an edgebench baseline (no \"format\": \"{FORMAT}\")", hint)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise EdgebenchError(
            f"baseline file {path} has schema version {version!r}; this edgebench ({__version__}) reads "
            f"version {SCHEMA_VERSION}",
            "upgrade edgebench" if newer else hint,
        )
    try:
        baseline = from_dict(Baseline, data)
    except (TypeError, ValueError) as exc:
        raise EdgebenchError(f"baseline file {path} is malformed: {exc}", hint) from exc
    _validate(baseline, path)
    return baseline


def _validate(b: Baseline, path: Path) -> None:
    """What the types alone do not say: one entry per model, samples that are times, sane thresholds."""
    names = [m.model for m in b.models]
    if not names:
        raise EdgebenchError(f"baseline file {path} holds no models")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise EdgebenchError(f"baseline file {path} lists {', '.join(dupes)} more than once")
    for m in b.models:
        where = f"baseline file {path}, model {m.model}"
        if not m.samples_ms or not all(np.isfinite(m.samples_ms)) or min(m.samples_ms) < 0:
            raise EdgebenchError(f"{where}: samples_ms must be a non-empty list of finite, non-negative times")
        if m.tolerance_pct is not None and not m.tolerance_pct >= 0:
            raise EdgebenchError(f"{where}: tolerance_pct is {m.tolerance_pct}; it must be a percentage >= 0")
        if (m.counters is None) != (m.counter_iterations == 0):
            raise EdgebenchError(f"{where}: counters and counter_iterations disagree")
