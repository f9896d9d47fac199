"""Fault injection for `edgebench run` on emulated targets: the board lost, the connection dropped, the disk
full, at chosen points of a three-model suite; after each, what must hold.

Each fault is injected into a real `edgebench run` process (a real sshd per target, qemu-arm, SQLite) by a
hook installed in that process before the CLI starts: it kills the target's sshd and every session under it
(or shuts this client's socket, or fills the workdir's filesystem) at the chosen moment, and leaves a marker
so an injection that never fired cannot pass. Then, from outside:

- the run ended with one clear line (exit 2, no traceback), naming its run and `--resume` when it kept any;
- every model that finished before the fault is in the store;
- no partial artifact on the board is ever used: every file at a name the runner reads has the sha256 of
  its local original (interrupted uploads may leave temporaries, which are never read and are removed by
  the next deploy);
- a bare `edgebench run --resume RUN` (nothing else: the run's own request) completes the rest, rewriting
  nothing already stored, after which the board holds no temporaries.

Usage (as root for the disk-full fault, which mounts a small tmpfs as the workdir):
    python benchmarks/fault_injection.py            # prints one line per fault and the tally
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPORARY = re.compile(r"^\..*\.tmp-[0-9a-f]{8}$")  # deploy's upload names (deploy._TEMP_MARK)
RUN_ARGS = ("--loops", "1", "--warmup", "0", "--no-counters", "--min-time-ms", "300")  # each model >= 0.3 s


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # upload-kill | upload-drop | run-kill | after-result-kill | after-result-fill
    model: int | None  # the model whose upload or run is hit (0-based); None: the runtime, or n/a
    finished: int  # models stored before the fault hits


FAULTS = (
    Fault("sshd + session killed while the runtime uploads", "upload-kill", None, 0),
    Fault("sshd + session killed while model 2 uploads", "upload-kill", 1, 1),
    Fault("sshd + session killed while model 2 runs", "run-kill", 1, 1),
    Fault("sshd + session killed between models 1 and 2", "after-result-kill", None, 1),
    Fault("connection dropped while model 3 uploads", "upload-drop", 2, 2),
    Fault("workdir disk full after model 1", "after-result-fill", None, 1),
)


@dataclass
class Outcome:
    fault: str
    fired: bool = False
    exit_code: int | None = None
    error_line: str = ""
    one_clear_line: bool = False
    names_resume: bool = False  # the run id and --resume, when it kept anything
    stored_at_fault: list[str] = field(default_factory=list)
    partial_left: int = 0  # temporaries on the board after the fault
    partial_used: int = 0  # files at a name the runner reads whose hash is not their original's
    resumed: bool = False
    resume_error: str = ""  # the resume's error line, when it did not complete
    rewritten: int = 0  # stored results that changed during the resume
    results_lost: int = 0
    temporaries_after_resume: int = 0


# -- inside the faulted `edgebench run` process ------------------------------------------------------------------

def kill_tree(pid: int) -> None:
    """The sshd listener and every process under it (sessions, shells, the runner): the board goes away."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass


def install(plan: dict) -> None:
    """Arm one fault in this process; it writes plan["marker"] when it fires."""
    import paramiko

    from edgebench.boards import ssh
    from edgebench.results import store

    fired = threading.Event()

    def fire(action) -> None:
        if not fired.is_set():
            fired.set()
            Path(plan["marker"]).write_text(plan["kind"])
            action()

    kind, target = plan["kind"], plan["target"]
    if kind.startswith("upload-"):
        original_put = paramiko.SFTPClient.put

        def put(self, localpath, remotepath, callback=None, confirm=True):
            def progress(done: int, total: int) -> None:
                if target in remotepath and done >= total // 2:
                    if kind == "upload-kill":
                        fire(lambda: kill_tree(plan["sshd_pid"]))
                    else:  # this client's own connection goes, the server stays
                        fire(lambda: self.sock.get_transport().sock.shutdown(socket.SHUT_RDWR))
            return original_put(self, localpath, remotepath, callback=progress, confirm=confirm)

        paramiko.SFTPClient.put = put
    elif kind == "run-kill":
        original_run = ssh.SSHTransport.run

        def watch() -> None:  # the runner of that model, seen in /proc, then the board goes
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                    try:
                        text = cmdline.read_bytes()
                    except OSError:
                        continue
                    if b"edgebench-runner" in text and target.encode() in text and b"qemu" in text:
                        fire(lambda: kill_tree(plan["sshd_pid"]))
                        return
                time.sleep(0.005)

        def run(self, argv, timeout=None, on_stderr_line=None):
            if any(target in str(a) for a in argv) and any("edgebench-runner" in str(a) for a in argv):
                threading.Thread(target=watch, daemon=True).start()
            return original_run(self, argv, timeout, on_stderr_line)

        ssh.SSHTransport.run = run
    else:
        original_add = store.Store.add_result
        added = []

        def add_result(self, result, new_run=None):
            original_add(self, result, new_run)
            added.append(result.model)
            if len(added) == plan["after"]:
                if kind == "after-result-kill":
                    fire(lambda: kill_tree(plan["sshd_pid"]))
                else:
                    fire(lambda: fill(Path(plan["workdir"])))

        store.Store.add_result = add_result


CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import fault_injection
fault_injection.install(json.loads(sys.argv[2]))
sys.argv = ["edgebench", *sys.argv[3:]]
from edgebench.cli import main
main(sys.argv[1:], prog_name="edgebench")
"""


# -- from outside ------------------------------------------------------------------------------------------------

def _edgebench(args: list[str], plan: dict | None = None) -> subprocess.CompletedProcess:
    if plan is None:
        cmd = [sys.executable, "-c", "import sys; from edgebench.cli import main; sys.argv[0] = 'edgebench'; main()",
               *args]
    else:
        cmd = [sys.executable, "-c", CHILD, str(HERE), json.dumps(plan), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})


def _board_files(workdir: Path, originals: dict[str, Path]) -> tuple[int, int]:
    """(temporaries, files at a read name whose sha256 is not their original's) on the board."""
    from edgebench.hashing import sha256_file

    temporaries = used_partial = 0
    for path in workdir.rglob("*"):
        rel = path.relative_to(workdir).as_posix()
        if not path.is_file() or not rel.startswith(("models/", "runtime/")):
            continue
        if TEMPORARY.match(path.name):
            temporaries += 1
        elif rel not in originals or sha256_file(path) != sha256_file(originals[rel]):
            used_partial += 1
    return temporaries, used_partial


def _tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                                capture_output=True).returncode == 0


def run_fault(fault: Fault, artifacts: list[Path], root: Path) -> Outcome:
    """Inject `fault` into a run of `artifacts` (three artifact folders) on a fresh emulated target whose
    workdir lives under `root`. EDGEBENCH_DATA and EDGEBENCH_CACHE come from the environment."""
    import yaml

    from edgebench.boards import targets
    from edgebench.boards.devices import PACKAGED_DEVICES, get_device
    from edgebench.export.manifest import load_manifest
    from edgebench.ncnn_tools.build import build_runtime
    from edgebench.results.result import Status
    from edgebench.results.store import Store

    slug = re.sub(r"[^a-z0-9]+", "-", fault.name.lower()).strip("-")[:40]
    where = root / slug
    workdir, store_path, devices = where / "workdir", where / "store.sqlite3", where / "devices.yaml"
    mounted = fault.kind == "after-result-fill" and _tmpfs(workdir, "16m")
    if fault.kind == "after-result-fill" and not mounted:
        raise RuntimeError("the disk-full fault needs root (it mounts a tmpfs as the workdir)")
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"fi-{slug}"
    entry = yaml.safe_load(PACKAGED_DEVICES.read_text())["imx6"]
    devices.write_text(yaml.safe_dump({name: {**entry, "workdir": str(workdir)}}))
    device = get_device(name, devices)
    manifests = [load_manifest(a) for a in artifacts]
    runtime = build_runtime(device.arch, progress=False)
    originals = {f"runtime/{runtime.key[:16]}/edgebench-runner": runtime.runner}
    for m, folder in zip(manifests, artifacts):
        for f in (m.param_file, m.bin_file):
            originals[f"models/{m.digest[:16]}/{f}"] = folder / f
    hit = manifests[fault.model].digest[:16] if fault.model is not None else None
    target = {"upload-kill": f"models/{hit}/.model.bin.tmp-" if hit else "/.edgebench-runner.tmp-",
              "upload-drop": f"models/{hit}/.model.bin.tmp-", "run-kill": hit}.get(fault.kind, "")
    out = Outcome(fault=fault.name)
    try:
        plan = {"kind": fault.kind, "target": target, "after": fault.finished, "workdir": str(workdir),
                "sshd_pid": targets.target_up(device).pid, "marker": str(where / "fired")}
        base = ["run", "--device", name, "--devices", str(devices), "--store", str(store_path)]
        models = [arg for a in artifacts for arg in ("--model", str(a))]
        proc = _edgebench([*base, *RUN_ARGS, *models], plan)
        out.fired, out.exit_code = (where / "fired").exists(), proc.returncode
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        out.error_line = errors[0] if errors else proc.stderr.strip()[-300:]
        out.one_clear_line = proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr
        names = [m.name for m in manifests]
        with Store(store_path) as s:
            run = s.latest_run(name)
            before = s.results(run.id) if run else []
        out.stored_at_fault = [r.model for r in before if r.status == Status.OK]
        expected = set(names[:fault.finished])
        out.names_resume = not expected or (run is not None and run.id in proc.stderr and "--resume" in proc.stderr)
        out.partial_left, out.partial_used = _board_files(workdir, originals)
        lost = len(expected - set(out.stored_at_fault))

        if mounted:
            (workdir / "filler").unlink(missing_ok=True)  # the user frees the space
        again = _edgebench([*base, "--resume", run.id] if run else [*base, *RUN_ARGS, *models])
        with Store(store_path) as s:
            final_run = s.latest_run(name)
            after = s.results(final_run.id) if final_run else []
        ok_after = {r.model for r in after if r.status == Status.OK}
        out.resume_error = "" if again.returncode == 0 else (
            [line for line in again.stderr.splitlines() if line.startswith("error:")] or [again.stderr[-300:]])[0]
        out.resumed = again.returncode == 0 and ok_after == set(names) and len(after) == len(names) and (
            run is None or final_run.id == run.id)
        kept = {r.model: r for r in after}
        out.rewritten = sum(1 for r in before if r.status == Status.OK and kept.get(r.model) != r)
        temporaries, used = _board_files(workdir, originals)
        out.partial_used += used
        out.temporaries_after_resume = temporaries
        out.results_lost = lost + len(set(names) - ok_after) + out.rewritten
    finally:
        targets.target_down(device)
        if mounted:
            subprocess.run(["umount", "-l", str(workdir)], check=False)
    return out


def export_models(out: Path, count: int = 3) -> list[Path]:
    """`count` small distinct models (the tests' tiny CNN at one input size each): fast under QEMU."""
    sys.path.insert(0, str(HERE.parent / "tests" / "data"))
    from edgebench.export.pipeline import export_artifact
    from edgebench.export.source import resolve_source

    folders = []
    for i in range(count):
        side = 32 + 8 * i  # another input size: another artifact, in its own folder on the board
        source = resolve_source("tiny_factories:small_cnn", (1, 3, side, side), f"fault_net_{side}")
        folders.append(export_artifact(source, out)[1])
    return folders


def tally(outcomes: list[Outcome]) -> str:
    return (f"faults injected: {sum(o.fired for o in outcomes)}/{len(outcomes)}, "
            f"partial uploads left on the board: {sum(o.partial_left for o in outcomes)} (never used), "
            f"partial files used: {sum(o.partial_used for o in outcomes)}, "
            f"results lost: {sum(o.results_lost for o in outcomes)}, "
            f"resumes completed: {sum(o.resumed for o in outcomes)}/{len(outcomes)}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="edgebench-faults-") as tmp:
        root = Path(tmp)
        os.environ["EDGEBENCH_DATA"] = str(root / "data")
        os.environ.setdefault("EDGEBENCH_CACHE", str(Path.home() / ".cache" / "edgebench"))
        artifacts = export_models(root / "artifacts")
        outcomes = []
        for fault in FAULTS:
            start = time.monotonic()
            o = run_fault(fault, artifacts, root)
            outcomes.append(o)
            print(f"{fault.name:50s} fired={o.fired} rc={o.exit_code} kept={len(o.stored_at_fault)} "
                  f"partial left={o.partial_left} used={o.partial_used} resumed={o.resumed} "
                  f"lost={o.results_lost} ({time.monotonic() - start:.0f} s)\n    {o.error_line}"
                  + (f"\n    resume: {o.resume_error}" if o.resume_error else ""), flush=True)
        print(tally(outcomes))
        ok = all(o.fired and o.one_clear_line and o.names_resume and o.resumed and not o.partial_used
                 and not o.results_lost and not o.temporaries_after_resume for o in outcomes)
        if "--json" in sys.argv:
            print(json.dumps([asdict(o) for o in outcomes], indent=2))
        shutil.rmtree(root / "data" / "targets", ignore_errors=True)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
