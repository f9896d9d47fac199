"""What the native builds (the NCNN runtimes, the counting QEMU) share: one builder per cache key across
processes, a progress display on stderr, and build commands run into logs with a line per stage (ninja's
[n/N] as its bar) and a one-line error naming the stage and the log's first error when one fails."""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from edgebench.errors import EdgebenchError

_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an flock on `lock_file` (created) for the body: other processes building the same key wait, then
    find the finished entry."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def progress_display(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield progress


class Stages:
    """Runs one build's commands, each into `log_dir/<stage>.log`; a failed one's log is kept under
    `kept_logs` and named in the error."""

    def __init__(self, progress: Progress | None, log_dir: Path, *, label: str, what: str, kept_logs: Path,
                 errors: str = r"\berror\b|undefined reference", hint: str = ""):
        self.progress = progress
        self.log_dir = log_dir
        self.label = label  # each stage's line: "<label>: <stage>"
        self.what = what  # the error's subject: "armv7 runtime build", "building the counting QEMU"
        self.kept_logs = kept_logs
        self.errors = re.compile(errors, re.IGNORECASE)
        self.hint = hint

    def run(self, stage: str, cmd: list[str], cwd: Path | None = None) -> None:
        log_path = self.log_dir / f"{stage.replace(' ', '-')}.log"
        task = self.progress.add_task(f"{self.label}: {stage}", total=None) if self.progress else None
        with log_path.open("w") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace")
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                step = _NINJA_STEP.match(line)
                if step and task is not None:
                    self.progress.update(task, completed=int(step.group(1)), total=int(step.group(2)))
            code = proc.wait()
        if task is not None:
            self.progress.update(task, total=1, completed=1)
        if code != 0:
            kept = self.kept_logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{log_path.name}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_path, kept)
            raise EdgebenchError(f"{self.what} failed at '{stage}' (exit {code}): {self.first_error(kept)[:200]}",
                                 hint=f"full log: {kept}" + (f"; {self.hint}" if self.hint else ""))

    def first_error(self, log: Path) -> str:
        """The line a user needs from a failed log: the first error after the command line, else the last."""
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()[1:] if ln.strip()]
        return ([ln for ln in lines if self.errors.search(ln)] or lines or ["no output"])[0]
