"""`edgebench run`: artifacts + runtime -> deployed over SSH -> runner on the board -> RunResult -> store.

Real boards and emulated targets take the same path: the only difference is the argv prefix a Device adds
(`qemu-arm -cpu cortex-a9 [-plugin ...]`) and, on emulated targets, the counting plugin's file fetched back.
Every model's result is committed to the store the moment it finishes, so a failure later loses nothing and
`--resume` skips what is done.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgebench.devices import Device
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import MANIFEST_NAME, ArtifactManifest, load_manifest
from edgebench.latency_model import modeled_fields
from edgebench.launcher import Launcher, launcher_for
from edgebench.ncnn_tools.report import RunnerReport, parse_runner_output
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.result import (BoardState, IterationCounts, LayerCost, LayerProfile, LayerTime, RunResult,
                              RunSettings)
from edgebench.store import NewRun, Store, new_run
from edgebench.sysview import check_ncnn_saw
from edgebench.transport import CommandTimeout

# Below this the board computed something else than the host did on the same input (NCNN's fp16 paths
# differ by ~1e-4 relative; a wrong kernel or a bad conversion is far below).
MIN_COSINE_VS_HOST = 0.9999


@dataclass(frozen=True)
class RunRequest:
    device: Device
    models: tuple[str, ...]  # zoo names (exported on demand) or artifact folders
    settings: RunSettings
    artifacts_root: Path = Path("artifacts")
    count: bool = True  # emulated targets: exact per-iteration counts from the QEMU plugin
    wait_for_lock: bool = True
    timeout_s: float = 3600.0  # per model, lock wait excluded
    resume_run: str | None = None  # a run id whose finished models are skipped
    notes: str = ""  # stored with the run, e.g. which study it belongs to
    breakdown: bool = False  # emulated targets: counts per NCNN layer type too (plugin symbols=on)
    per_layer: bool = False  # uncounted runs: each model is run again by the profiling runtime (LayerProfile)


@dataclass(frozen=True)
class Prepared:
    """One model ready to run: its manifest and where its files are here and on the board."""

    manifest: ArtifactManifest
    folder: Path
    remote_dir: str  # relative to the board's workdir


@dataclass(frozen=True)
class BoardLayout:
    """Where this run's files live on the board, and how a program starts there."""

    workdir: str
    runner: str  # relative to workdir: the runner sees the same argv on every board
    plugin: str | None  # the counting plugin's absolute path (emulated targets), or None
    launcher: Launcher
    profiler: str | None = None  # the profiling runtime's runner, relative to workdir (--per-layer), or None


Stage = Callable[[str], None]


def prepare_artifact(model: str, artifacts_root: Path, on_stage: Stage) -> tuple[ArtifactManifest, Path]:
    """An artifact folder for `model`: used as is when it exists (sha256-verified), else exported now."""
    as_path = Path(model)
    if (as_path / MANIFEST_NAME).is_file():
        return load_manifest(as_path), as_path
    from edgebench.export.pipeline import export_artifact
    from edgebench.export.source import resolve_source

    source = resolve_source(model)
    folder = artifacts_root / source.name
    if (folder / MANIFEST_NAME).is_file():
        return load_manifest(folder), folder
    return export_artifact(source, artifacts_root, on_stage=lambda s: on_stage(f"{source.name}: {s}"))


def _counter_args(device: Device, remote_counts: str, plugin_remote: str, symbols: bool = False) -> list[str]:
    from edgebench.ncnn_tools.plugin import CacheConfig, plugin_args

    if device.cache is None:
        raise EdgebenchError(f"device {device.name} declares no cache geometry for the counters' cache model",
                             hint=f"add cache: l1i/l1d/l2 to its entry in {device.source}, or pass --no-counters")
    return plugin_args(remote_counts, CacheConfig.from_device(device.cache), lib=Path(plugin_remote), symbols=symbols)


def _median(values: list[float]) -> float:
    return float(np.median(values))


def layer_profile(report: RunnerReport, runtime_key: str, unprofiled_ms: float) -> LayerProfile:
    """A profiling runner's report as a LayerProfile: each layer's median, and its share of their sum."""
    if not report.layers:
        raise EdgebenchError("the profiling runner reported no layers (is it an NCNN_BENCHMARK build?)")
    medians = [_median(layer.samples_ms) for layer in report.layers]
    total = sum(medians)
    layers = [LayerTime(name=layer.name, type=layer.type, median_ms=ms, share=ms / total if total > 0 else 0.0)
              for layer, ms in zip(report.layers, medians)]
    return LayerProfile(runtime_key=runtime_key, iterations=len(report.samples_ms),
                        profiled_ms=_median(report.samples_ms), unprofiled_ms=unprofiled_ms, layers=layers)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return min(1.0, float(np.dot(a, b)) / denom) if denom > 0 else 0.0


def host_cosine(prepared: Prepared, report: RunnerReport) -> float:
    """How close the board's output is to host NCNN's on the very same input (seeded in both places)."""
    from edgebench.export.host_inference import run_ncnn
    from edgebench.ncnn_tools.seeded_input import seeded_input

    m, s = prepared.manifest, report.settings
    x = seeded_input((1, *m.ncnn_input.shape), s.seed)
    host = run_ncnn(prepared.folder / m.param_file, prepared.folder / m.bin_file, m.ncnn_input.name,
                    m.ncnn_output.name, x, fp16=s.fp16_storage).astype(np.float64).ravel()
    board = np.asarray(report.output.values or [], dtype=np.float64)
    return _cosine(host, board) if board.shape == host.shape and np.all(np.isfinite(board)) else 0.0


class Session:
    """One `edgebench run` on one device: holds the transport, the board lock and the store."""

    def __init__(self, request: RunRequest, store: Store, argv: list[str], on_stage: Stage):
        self.request = request
        self.device = request.device
        self.store = store
        self.argv = argv
        self.on_stage = on_stage
        self.run_id: str | None = None  # known once the models are prepared; stored with its first result
        self._new_run: NewRun | None = None  # a fresh run not in the store until its first result

    def execute(self, on_result: Callable[[RunResult], None]) -> tuple[str, list[RunResult]]:
        """Run the request's models; each result is stored (and passed to on_result) as it finishes.

        On failure `run_id` names the run when it stored anything, so the caller can point at --resume."""
        from edgebench.targets import connect

        # The board first: an unreachable, refusing or untrusted board is named in seconds, not after minutes
        # of export and build.
        self.on_stage(f"connecting to {self.device.name}")
        transport, endpoint = connect(self.device)
        try:
            return self._execute(transport, endpoint.workdir, on_result)
        finally:
            transport.close()

    def _execute(self, transport, ws: str, on_result: Callable[[RunResult], None]) -> tuple[str, list[RunResult]]:
        from edgebench.deploy import board_lock
        from edgebench.ncnn_tools.build import build_runtime

        req, device = self.request, self.device
        counting = req.count and device.emulated
        prepared: list[Prepared] = []
        unexportable: dict[str, str] = {}  # model -> why: stored as failed, the rest of a suite still runs
        for model in req.models:
            try:
                manifest, folder = prepare_artifact(model, req.artifacts_root, self.on_stage)
            except EdgebenchError as exc:
                if len(req.models) == 1:
                    raise
                unexportable[model] = f"export failed: {exc}"
                continue
            prepared.append(Prepared(manifest, folder, f"models/{manifest.digest[:16]}"))

        self.on_stage(f"runtime for {device.arch}")
        runtime = build_runtime(device.arch)  # a first build says so and shows its stages (nested bars)
        self.runtime = runtime
        if req.resume_run:
            done, self._new_run = self._resumable(req.resume_run, prepared), None
            self.run_id = req.resume_run
        else:
            done, self._new_run = set(), new_run(device.name, self.argv, notes=req.notes)
            self.run_id = self._new_run.id
        run_id = self.run_id
        for model, error in unexportable.items():
            if model not in done:
                self._store(self._failed(run_id, model, "", None, BoardState(), _now(), error), on_result)
        todo = [p for p in prepared if p.manifest.name not in done]
        if req.resume_run:
            self.on_stage(f"resuming {run_id}: {len(done)} done, {len(todo)} to run")
        if not todo:
            return run_id, []

        common = {f"runtime/{runtime.key[:16]}/edgebench-runner": runtime.runner}
        profiler = None
        if req.per_layer and not counting:
            self.on_stage(f"profiling runtime for {device.arch}")
            self.profile_runtime = build_runtime(device.arch, profile=True)
            profiler = f"runtime/{self.profile_runtime.key[:16]}/edgebench-runner"
            common[profiler] = self.profile_runtime.runner
        if counting:
            from edgebench.ncnn_tools.plugin import build_plugin, require_plugin_support

            require_plugin_support(device.emulator.argv[0])
            plugin = build_plugin(device.emulator.argv[0])
            common[f"plugin/{plugin.name}"] = plugin
        launcher = launcher_for(device)  # an emulated board's system view, checked before anything is sent

        results: list[RunResult] = []
        waited = lambda info: self.on_stage(f"{device.name} is busy ({info.describe_holder()}); waiting")  # noqa: E731
        with board_lock(transport, ws, wait=req.wait_for_lock, on_wait=waited):
            self._deploy(transport, common, ws)
            layout = BoardLayout(ws, f"runtime/{runtime.key[:16]}/edgebench-runner",
                                 posixpath.join(ws, f"plugin/{plugin.name}") if counting else None, launcher,
                                 profiler)
            for p in todo:
                # Each model's files go up right before it runs: a board lost or full at model k leaves
                # models 1..k-1 stored, and nothing half-sent is ever at a name the runner reads.
                m = p.manifest
                self._deploy(transport, {f"{p.remote_dir}/{m.param_file}": p.folder / m.param_file,
                                         f"{p.remote_dir}/{m.bin_file}": p.folder / m.bin_file}, ws)
                result = self._run_one(transport, layout, run_id, p)
                self._store(result, on_result)
                results.append(result)
        return run_id, results

    def _deploy(self, transport, files: dict[str, Path], ws: str) -> None:
        from edgebench.deploy import deploy

        self.on_stage(f"deploying to {self.device.name}")
        summary = deploy(transport, files, ws)
        self.on_stage(f"deployed: {summary.files_sent} file(s), {summary.bytes_sent} bytes sent")

    def _store(self, result: RunResult, on_result: Callable[[RunResult], None]) -> None:
        """Commit one result; a new run's row goes in with its first."""
        self.store.add_result(result, self._new_run)
        on_result(result)

    def _resumable(self, run_id: str, prepared: list[Prepared]) -> set[str]:
        """The models `run_id` finished, after checking that it measured what this run would."""
        info = self.store.run(run_id)
        if info.device != self.device.name:
            raise EdgebenchError(f"run {run_id} was on {info.device}, not {self.device.name}")
        digests = {p.manifest.name: p.manifest.digest for p in prepared}
        done = set()
        for old in self.store.results(run_id):
            if old.status != "ok":
                continue
            if old.runtime_key != self.runtime.key:
                raise EdgebenchError(f"run {run_id} used another NCNN/runner build ({old.runtime_key[:12]}, now "
                                     f"{self.runtime.key[:12]}): its results cannot be mixed with new ones",
                                     hint="start afresh (edgebench reproduce: --fresh; edgebench run: without --resume)")
            if old.model in digests and old.artifact_sha256 != digests[old.model]:
                raise EdgebenchError(f"run {run_id} measured another export of {old.model} "
                                     f"(artifact {old.artifact_sha256[:12]}, now {digests[old.model][:12]})",
                                     hint="start afresh (edgebench reproduce: --fresh; edgebench run: without --resume)")
            done.add(old.model)
        return done

    def _run_one(self, transport, layout: BoardLayout, run_id: str, p: Prepared) -> RunResult:
        from edgebench.boardstate import collect_board_state, finish_board_state, with_cpus_used

        m, req, device = p.manifest, self.request, self.device
        started = _now()
        self.on_stage(f"{m.name}: board state")
        before = collect_board_state(transport, device, layout.launcher)
        ws = layout.workdir
        # The runner sees paths relative to the workdir: the same argv on every host, so the same heap layout
        # and, under the counting plugin, the same cache misses wherever the board's workdir lives.
        options = RunnerOptions(param=posixpath.join(p.remote_dir, m.param_file),
                                bin=posixpath.join(p.remote_dir, m.bin_file),
                                shape=tuple(m.ncnn_input.shape), input_blob=m.ncnn_input.name,
                                output_blob=m.ncnn_output.name, settings=req.settings, output_values=True)
        emulator_options: list[str] = []
        remote_counts = None
        if layout.plugin:
            remote_counts = posixpath.join(ws, "counts", f"{run_id}-{m.digest[:16]}.jsonl")
            transport.run(["mkdir", "-p", posixpath.dirname(remote_counts)], timeout=60).check()
            transport.run(["rm", "-f", remote_counts], timeout=60).check()
            emulator_options = _counter_args(device, remote_counts, layout.plugin, req.breakdown)
        program = layout.launcher.argv([f"./{layout.runner}", *options.argv()], emulator_options)
        argv = ["sh", "-c", 'cd -- "$1" && shift && exec "$@"', "sh", ws, *program]
        what = "counting" if remote_counts else "running"
        self.on_stage(f"{m.name}: {what} on {device.name} ({req.settings.warmup} warm-up + {req.settings.loops} loops)")
        try:
            res = transport.run(argv, timeout=req.timeout_s)
        except CommandTimeout:  # the runner was killed; the board is fine, so this model fails alone
            res = None
        board = finish_board_state(transport, device, before)
        if res is None:
            return self._failed(run_id, m.name, m.digest, m.macs / 1e6, board, started,
                                f"timed out: still running after {req.timeout_s:g} s (--timeout), killed")
        where = f"edgebench-runner on {device.name}"
        try:
            if res.signal is not None:  # killed: whatever it printed is not a complete report
                raise EdgebenchError(res.describe())
            report = parse_runner_output(res.stdout, res.exit_status, where)
            board = dataclasses.replace(with_cpus_used(board, report.cpus_used), ncnn_cpu=report.cpu)
            if layout.launcher.view is not None:
                board = dataclasses.replace(board, system_view=layout.launcher.view.describe())
                check_ncnn_saw(layout.launcher.view, report.cpu, where)
        except EdgebenchError as exc:
            return self._failed(run_id, m.name, m.digest, m.macs / 1e6, board, started, str(exc))
        counters, layer_breakdown = self._fetch_counts(transport, remote_counts) if remote_counts else (None, None)
        cosine = host_cosine(p, report)
        result = RunResult(
            run_id=run_id, model=m.name, artifact_sha256=m.digest, device=device.name, arch=device.arch,
            settings=report.settings.run_settings(), ncnn_version=report.ncnn_version, runtime_key=self.runtime.key,
            samples_ms=list(report.samples_ms), load_ms=report.load_ms.param + report.load_ms.model,
            first_inference_ms=report.first_inference_ms, peak_rss_kb=report.peak_rss_kb,
            output_checksum=dataclasses.asdict(report.output.checksum), output_cosine_vs_host=cosine,
            board=board, started_utc=started, finished_utc=_now(), counters=counters, mflops=m.macs / 1e6,
            **modeled_fields(device, counters, m.macs),  # modeled_ms and its interval; None unless calibrated
            layer_breakdown=layer_breakdown)
        if not cosine >= MIN_COSINE_VS_HOST:
            return dataclasses.replace(result, status="failed", error=(
                f"output differs from host NCNN on the same input: cosine {cosine:.6f} < {MIN_COSINE_VS_HOST}"))
        if layout.profiler:
            self.on_stage(f"{m.name}: per-layer profile on {device.name}")
            try:
                profile = self._profile(transport, layout, options, result)
            except (EdgebenchError, CommandTimeout) as exc:
                return dataclasses.replace(result, status="failed", error=f"per-layer profile failed: {exc}")
            return dataclasses.replace(result, layer_profile=profile)
        return result

    def _profile(self, transport, layout: BoardLayout, options: RunnerOptions, timed: RunResult) -> LayerProfile:
        """The same model and settings once more under the profiling runtime, right after the timed run."""
        program = layout.launcher.argv([f"./{layout.profiler}", *options.argv()], [])
        argv = ["sh", "-c", 'cd -- "$1" && shift && exec "$@"', "sh", layout.workdir, *program]
        res = transport.run(argv, timeout=self.request.timeout_s)
        if res.signal is not None:
            raise EdgebenchError(res.describe())
        report = parse_runner_output(res.stdout, res.exit_status, f"the profiling runner on {self.device.name}")
        return layer_profile(report, self.profile_runtime.key, _median(timed.samples_ms))

    def _fetch_counts(self, transport, remote_counts: str) -> tuple[list[IterationCounts], list[LayerCost] | None]:
        from edgebench.layer_breakdown import counted_layer_costs
        from edgebench.ncnn_tools.plugin import parse_counts

        with tempfile.TemporaryDirectory(prefix="edgebench-counts-") as tmp:
            local = Path(tmp) / "counts.jsonl"
            transport.get(remote_counts, local)
            return parse_counts(local), counted_layer_costs(local) if self.request.breakdown else None

    def _failed(self, run_id: str, model: str, artifact_sha256: str, mflops: float | None, board: BoardState,
                started: str, error: str) -> RunResult:
        return RunResult(
            run_id=run_id, model=model, artifact_sha256=artifact_sha256, device=self.device.name,
            arch=self.device.arch, settings=self.request.settings, ncnn_version=self.runtime.ncnn_version,
            runtime_key=self.runtime.key, samples_ms=[], load_ms=math.nan, first_inference_ms=math.nan,
            peak_rss_kb=0, output_checksum={}, output_cosine_vs_host=None, board=board, started_utc=started,
            finished_utc=_now(), status="failed", error=error, mflops=mflops)
