"""`edgebench run`: artifacts + runtime -> deployed over SSH -> runner on the board -> RunResult -> store.

A Session holds its parts: the Board (how it is reached, how a program starts there, its state probe and
whether it counts), the Runtimes it builds and the Store. Real and emulated boards take the same path; on a
board that counts, the plugin's file is fetched back too. Every model's result is committed to the store the
moment it finishes, so a failure later loses nothing and `--resume` skips what is done.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgebench.bench.artifacts import Prepared, Stage, prepare_artifact
from edgebench.bench.measurement import as_seen, in_workdir, layer_profile, parsed_report, runner_options
from edgebench.bench.runtimes import Runtimes
from edgebench.bench.validation import MIN_COSINE_VS_HOST, host_cosine
from edgebench.boards.board import Board, BoardLink, Counter
from edgebench.boards.devices import Device
from edgebench.boards.launcher import Launcher
from edgebench.boards.lock import board_lock
from edgebench.boards.sysview import check_ncnn_saw
from edgebench.boards.transport import CommandTimeout
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import ArtifactManifest
from edgebench.modeling.latency_model import modeled_fields
from edgebench.ncnn_tools.build import Runtime
from edgebench.ncnn_tools.report import RunnerReport, parse_progress
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.results.result import (BoardState, IterationCounts, LayerCost, LayerProfile, RunResult, RunSettings,
                                      Status)
from edgebench.results.stats import median
from edgebench.results.store import NewRun, Store, new_run


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
class BoardLayout:
    """What this run put on the board besides the models: where each lives (relative to the workdir, so the
    runner sees the same argv on every board) and what it is."""

    workdir: str
    runtime: Runtime
    runner: str
    profile_runtime: Runtime | None = None  # --per-layer on a timed board
    profiler: str | None = None
    counter: Counter | None = None  # on a board that counts
    plugin: str | None = None  # the counting plugin on the board


@dataclass(frozen=True)
class Plan:
    """A request made ready for its boards: the run named, the models exported, the runtime (and what counting
    or profiling needs) built and laid out; `todo` the models still to run (layout None when there are none)."""

    request: RunRequest
    run_id: str
    new_run: NewRun | None  # a fresh run: its row goes in with its first result, from whichever board
    runtime: Runtime
    todo: tuple[Prepared, ...]
    layout: BoardLayout | None
    files: dict[str, Path]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Session:
    """Runs requests on one board: its parts are the board, the runtimes it builds and the store results go to.

    `run_id` names the request's run once it is known (after preparing), so a caller can point at --resume
    when `execute` fails."""

    def __init__(self, board: Board, runtimes: Runtimes, store: Store, *, argv: list[str], on_stage: Stage):
        self.board = board
        self.device = board.device
        self.runtimes = runtimes
        self.store = store
        self.argv = argv
        self.on_stage = on_stage
        self.run_id: str | None = None
        self._new_run: NewRun | None = None  # a fresh run not in the store until its first result
        self.board_name: str | None = None  # the open board's, once open (a labgrid place)

    def execute(self, request: RunRequest, on_result: Callable[[RunResult], None]) -> tuple[str, list[RunResult]]:
        """Run the request's models; each result is stored (and passed to on_result) as it finishes."""
        if request.device != self.device:
            raise ValueError(f"a request for {request.device.name} given to a session on {self.device.name}")
        # The board first: an unreachable, refusing or untrusted board is named in seconds, not after minutes
        # of export and build.
        self.on_stage(f"connecting to {self.device.name}")
        link = self.board.open()
        try:
            plan = self.plan(request, link.workdir, on_result)
            return plan.run_id, self.run_models(link, plan, plan.todo, on_result) if plan.todo else []
        finally:
            link.close()

    def plan(self, req: RunRequest, workdir: str, on_result: Callable[[RunResult], None]) -> Plan:
        """Export the models, build the runtime (and what counting or profiling needs), lay them out in
        `workdir` (run_models moves the layout to its board's) and name the run; models that cannot be exported
        are stored as failed here."""
        prepared, unexportable = self._prepare(req)
        self.on_stage(f"runtime for {self.device.arch}")
        runtime = self.runtimes.runner(self.device.arch)
        done = self._start_run(req, prepared, runtime)
        for model, error in unexportable.items():
            if model not in done:
                self._store(self._failed(req, runtime, model, "", None, BoardState(), _now(), error), on_result)
        todo = tuple(p for p in prepared if p.manifest.name not in done)
        if req.resume_run:
            self.on_stage(f"resuming {self.run_id}: {len(done)} done, {len(todo)} to run")
        layout, files = self._layout(workdir, req, runtime) if todo else (None, {})
        return Plan(req, self.run_id, self._new_run, runtime, todo, layout, files)

    def run_models(self, link: BoardLink, plan: Plan, models: Iterable[Prepared],
                   on_result: Callable[[RunResult], None]) -> list[RunResult]:
        """Run `models` (taken one at a time: a queue may feed them) of `plan` on the open board `link`."""
        self.run_id, self._new_run, self.board_name = plan.run_id, plan.new_run, link.board_name
        req, layout = plan.request, dataclasses.replace(plan.layout, workdir=link.workdir)
        launcher = self.board.launcher  # an emulated board's system view, checked before anything is sent
        results: list[RunResult] = []
        waited = lambda info: self.on_stage(f"{self._here} is busy ({info.describe_holder()}); waiting")  # noqa: E731
        with board_lock(link.transport, link.workdir, wait=req.wait_for_lock, on_wait=waited):
            self._deploy(link, plan.files)
            for p in models:
                # Each model's files go up right before it runs: a board lost or full at model k leaves
                # models 1..k-1 stored, and nothing half-sent is ever at a name the runner reads.
                m = p.manifest
                self._deploy(link, {f"{p.remote_dir}/{m.param_file}": p.folder / m.param_file,
                                    f"{p.remote_dir}/{m.bin_file}": p.folder / m.bin_file})
                result = self._run_one(link, layout, launcher, req, p)
                self._store(result, on_result)
                results.append(result)
        return results

    def store_unrun(self, plan: Plan, p: Prepared, error: str, on_result: Callable[[RunResult], None]) -> None:
        """Store `p` of `plan` as failed without having run it (no board was left to run it)."""
        self.run_id, self._new_run = plan.run_id, plan.new_run
        m = p.manifest
        self._store(self._failed(plan.request, plan.runtime, m.name, m.digest, m.macs / 1e6, BoardState(), _now(),
                                 error), on_result)

    @property
    def _here(self) -> str:
        """The board, as progress names it."""
        return self.board_name or self.device.name

    def _prepare(self, req: RunRequest) -> tuple[list[Prepared], dict[str, str]]:
        """Every model as an artifact; in a suite, one that cannot be exported is noted (model -> why) and
        stored as failed while the rest still run."""
        prepared: list[Prepared] = []
        unexportable: dict[str, str] = {}
        for model in req.models:
            try:
                manifest, folder = prepare_artifact(model, req.artifacts_root, self.on_stage)
            except EdgebenchError as exc:
                if len(req.models) == 1:
                    raise
                unexportable[model] = f"export failed: {exc}"
                continue
            prepared.append(Prepared(manifest, folder, f"models/{manifest.digest[:16]}"))
        return prepared, unexportable

    def _start_run(self, req: RunRequest, prepared: list[Prepared], runtime: Runtime) -> set[str]:
        """Name the run (a new one, or the one resumed) and return the models it already finished."""
        if req.resume_run:
            done = self._resumable(req.resume_run, prepared, runtime)
            self.run_id, self._new_run = req.resume_run, None
            return done
        self._new_run = new_run(self.device.name, self.argv, notes=req.notes)
        self.run_id = self._new_run.id
        return set()

    def _layout(self, ws: str, req: RunRequest, runtime: Runtime) -> tuple[BoardLayout, dict[str, Path]]:
        """The runtime, profiler and counting plugin this request needs, and the files that put them there."""
        runner = f"runtime/{runtime.key[:16]}/edgebench-runner"
        files = {runner: runtime.runner}
        counter = self.board.counter(self.runtimes) if req.count else None
        profile_runtime = profiler = plugin = None
        if req.per_layer and counter is None:
            self.on_stage(f"profiling runtime for {self.device.arch}")
            profile_runtime = self.runtimes.profiler(self.device.arch)
            profiler = f"runtime/{profile_runtime.key[:16]}/edgebench-runner"
            files[profiler] = profile_runtime.runner
        if counter is not None:
            plugin = f"plugin/{counter.plugin.name}"
            files[plugin] = counter.plugin
        return BoardLayout(ws, runtime, runner, profile_runtime, profiler, counter, plugin), files

    def _deploy(self, link: BoardLink, files: dict[str, Path]) -> None:
        from edgebench.boards.deploy import deploy

        self.on_stage(f"deploying to {self._here}")
        summary = deploy(link.transport, files, link.workdir)
        self.on_stage(f"deployed: {summary.files_sent} file(s), {summary.bytes_sent} bytes sent")

    def _store(self, result: RunResult, on_result: Callable[[RunResult], None]) -> None:
        """Commit one result; a new run's row goes in with its first."""
        self.store.add_result(result, self._new_run)
        on_result(result)

    def _resumable(self, run_id: str, prepared: list[Prepared], runtime: Runtime) -> set[str]:
        """The models `run_id` finished, after checking that it measured what this run would."""
        info = self.store.run(run_id)
        if info.device != self.device.name:
            raise EdgebenchError(f"run {run_id} was on {info.device}, not {self.device.name}")
        digests = {p.manifest.name: p.manifest.digest for p in prepared}
        done = set()
        for old in self.store.results(run_id):
            if old.status != Status.OK:
                continue
            if old.runtime_key != runtime.key:
                raise EdgebenchError(f"run {run_id} used another NCNN/runner build ({old.runtime_key[:12]}, now "
                                     f"{runtime.key[:12]}): its results cannot be mixed with new ones",
                                     hint="start afresh (edgebench reproduce: --fresh; edgebench run: without --resume)")
            if old.model in digests and old.artifact_sha256 != digests[old.model]:
                raise EdgebenchError(f"run {run_id} measured another export of {old.model} "
                                     f"(artifact {old.artifact_sha256[:12]}, now {digests[old.model][:12]})",
                                     hint="start afresh (edgebench reproduce: --fresh; edgebench run: without --resume)")
            done.add(old.model)
        return done

    def _run_one(self, link: BoardLink, layout: BoardLayout, launcher: Launcher, req: RunRequest,
                 p: Prepared) -> RunResult:
        m, device = p.manifest, self.device
        started = _now()
        failed = lambda board, error: self._failed(req, layout.runtime, m.name, m.digest, m.macs / 1e6, board,  # noqa: E731
                                                    started, error)
        self.on_stage(f"{m.name}: board state")
        before = self.board.state_before(link.transport)
        options = runner_options(p, req.settings)
        remote_counts = self._clear_counts(link, layout, m) if layout.counter else None
        emulator_options = (layout.counter.options(remote_counts, posixpath.join(layout.workdir, layout.plugin),
                                                   req.breakdown) if remote_counts else [])
        what = f"{m.name}: {'counting' if remote_counts else 'running'} on {self._here}"
        self.on_stage(f"{what} ({req.settings.warmup} warm-up + {req.settings.loops} loops)")

        def on_line(line: str) -> None:
            if (loop := parse_progress(line)) is not None:
                self.on_stage(f"{what}: {loop.describe()}")

        try:
            res = link.transport.run(in_workdir(layout.workdir, launcher.argv([f"./{layout.runner}", *options.argv()],
                                                                              emulator_options)),
                                     timeout=req.timeout_s, on_stderr_line=on_line)
        except CommandTimeout:  # the runner was killed; the board is fine, so this model fails alone
            res = None
        board = self.board.state_after(link.transport, before)
        if res is None:
            return failed(board, f"timed out: still running after {req.timeout_s:g} s (--timeout), killed")
        where = f"edgebench-runner on {device.name}"
        try:
            report = parsed_report(res, where)
            board = as_seen(board, report, launcher)
            if launcher.view is not None:
                check_ncnn_saw(launcher.view, report.cpu, where)
        except EdgebenchError as exc:
            return failed(board, str(exc))
        counters, layer_breakdown = self._fetch_counts(link, remote_counts, req) if remote_counts else (None, None)
        result = self._result(req, layout.runtime, p, report, board, started, counters, layer_breakdown)
        cosine = result.output_cosine_vs_host
        if not cosine >= MIN_COSINE_VS_HOST:
            return dataclasses.replace(result, status=Status.FAILED, error=(
                f"output differs from host NCNN on the same input: cosine {cosine:.6f} < {MIN_COSINE_VS_HOST}"))
        if layout.profiler:
            self.on_stage(f"{m.name}: per-layer profile on {device.name}")
            try:
                profile = self._profile(link, layout, launcher, options, result, req.timeout_s)
            except (EdgebenchError, CommandTimeout) as exc:
                return dataclasses.replace(result, status=Status.FAILED, error=f"per-layer profile failed: {exc}")
            return dataclasses.replace(result, layer_profile=profile)
        return result

    def _clear_counts(self, link: BoardLink, layout: BoardLayout, m: ArtifactManifest) -> str:
        """The counts file of this model's run on the board, with any older one removed."""
        remote_counts = posixpath.join(layout.workdir, "counts", f"{self.run_id}-{m.digest[:16]}.jsonl")
        link.transport.run(["mkdir", "-p", posixpath.dirname(remote_counts)], timeout=60).check()
        link.transport.run(["rm", "-f", remote_counts], timeout=60).check()
        return remote_counts

    def _result(self, req: RunRequest, runtime: Runtime, p: Prepared, report: RunnerReport, board: BoardState,
                started: str, counters: list[IterationCounts] | None,
                layer_breakdown: list[LayerCost] | None) -> RunResult:
        m, device = p.manifest, self.device
        return RunResult(
            run_id=self.run_id, model=m.name, artifact_sha256=m.digest, device=device.name, arch=device.arch,
            settings=report.settings.run_settings(), ncnn_version=report.ncnn_version, runtime_key=runtime.key,
            samples_ms=list(report.samples_ms), load_ms=report.load_ms.param + report.load_ms.model,
            first_inference_ms=report.first_inference_ms, peak_rss_kb=report.peak_rss_kb,
            output_checksum=dataclasses.asdict(report.output.checksum), output_cosine_vs_host=host_cosine(p, report),
            board=board, started_utc=started, finished_utc=_now(), counters=counters, mflops=m.macs / 1e6,
            **modeled_fields(device, counters, m.macs),  # modeled_ms and its interval; None unless calibrated
            layer_breakdown=layer_breakdown, board_name=self.board_name)

    def _profile(self, link: BoardLink, layout: BoardLayout, launcher: Launcher, options: RunnerOptions,
                 timed: RunResult, timeout_s: float) -> LayerProfile:
        """The same model and settings once more under the profiling runtime, right after the timed run."""
        argv = in_workdir(layout.workdir, launcher.argv([f"./{layout.profiler}", *options.argv()], []))
        report = parsed_report(link.transport.run(argv, timeout=timeout_s),
                               f"the profiling runner on {self.device.name}")
        return layer_profile(report, layout.profile_runtime.key, median(timed.samples_ms))

    def _fetch_counts(self, link: BoardLink, remote_counts: str,
                      req: RunRequest) -> tuple[list[IterationCounts], list[LayerCost] | None]:
        from edgebench.modeling.layer_breakdown import counted_layer_costs
        from edgebench.ncnn_tools.plugin import parse_counts

        with tempfile.TemporaryDirectory(prefix="edgebench-counts-") as tmp:
            local = Path(tmp) / "counts.jsonl"
            link.transport.get(remote_counts, local)
            return parse_counts(local), counted_layer_costs(local) if req.breakdown else None

    def _failed(self, req: RunRequest, runtime: Runtime, model: str, artifact_sha256: str, mflops: float | None,
                board: BoardState, started: str, error: str) -> RunResult:
        return RunResult(
            run_id=self.run_id, model=model, artifact_sha256=artifact_sha256, device=self.device.name,
            arch=self.device.arch, settings=req.settings, ncnn_version=runtime.ncnn_version,
            runtime_key=runtime.key, samples_ms=[], load_ms=math.nan, first_inference_ms=math.nan,
            peak_rss_kb=0, output_checksum={}, output_cosine_vs_host=None, board=board, started_utc=started,
            finished_utc=_now(), status=Status.FAILED, error=error, mflops=mflops, board_name=self.board_name)
