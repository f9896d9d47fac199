"""The labgrid places this machine's edgebench processes hold: one small file per held place under
data_dir()/labgrid/, written before the acquire and removed after the release.

labgrid records a place's holder as "host/user" only, the same for two runs by one user; the file adds the
process (pid and its start time, so a reused pid is not mistaken for it), so a place left acquired by a
killed run is told apart from one that a live run holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgebench.atomic import write_atomically
from edgebench.paths import data_dir, ensure_dir


@dataclass(frozen=True)
class HoldRecord:
    coordinator: str
    place: str
    token: str  # the reservation the place was allocated to
    pid: int
    started: str  # the process's start time (/proc/PID/stat field 22)
    argv: list[str]
    since_utc: str

    def alive(self) -> bool:
        return _start_time(self.pid) == self.started

    def describe(self) -> str:
        return f"pid {self.pid}, `{' '.join(self.argv)}` since {self.since_utc}"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie has exited


def _path(coordinator: str, place: str) -> Path:
    key = hashlib.sha256(f"{coordinator}\0{place}".encode()).hexdigest()[:16]
    return data_dir(create=False) / "labgrid" / f"{key}.json"


def write(coordinator: str, place: str, token: str) -> HoldRecord:
    """Record that this process is about to hold `place`."""
    record = HoldRecord(coordinator=coordinator, place=place, token=token, pid=os.getpid(),
                        started=_start_time(os.getpid()) or "", argv=[os.path.basename(sys.argv[0]), *sys.argv[1:]],
                        since_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    path = _path(coordinator, place)
    ensure_dir(path.parent, "the folder of held labgrid places", "point EDGEBENCH_DATA at a writable folder")
    write_atomically(path, json.dumps(asdict(record)))
    return record


def read(coordinator: str, place: str) -> HoldRecord | None:
    try:
        return HoldRecord(**json.loads(_path(coordinator, place).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove(record: HoldRecord) -> None:
    """Forget `record` (only if the file still names it: a later run may hold the place since)."""
    if read(record.coordinator, record.place) == record:
        _path(record.coordinator, record.place).unlink(missing_ok=True)
