"""One run at a time per board.

board_lock() keeps two runs off one board: a `mkdir` lock (atomic on every POSIX filesystem, no flock binary
needed) in the remote workdir, with an owner file that a heartbeat keeps fresh. A waiter breaks a lock whose
owner is a dead process on this machine, or whose heartbeat stopped. Time spent waiting for the lock is
outside any command's timeout: timeouts start when a command is sent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from edgebench.boards.transport import ConnectionLost, Transport
from edgebench.errors import EdgebenchError

LOCK_NAME = ".edgebench.lock"


@dataclass(frozen=True)
class LockOwner:
    host: str
    pid: int
    since_utc: str
    purpose: str
    token: str  # unique per acquisition: release/break only ever touch the lock this token names

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since_utc} ({self.purpose})"


@dataclass
class LockInfo:
    """What a waiter sees of the current holder."""

    owner: LockOwner | None  # None: the owner file is unreadable (being written, or damaged)
    raw_owner: str
    age_s: float  # seconds since the holder's last heartbeat

    def describe_holder(self) -> str:
        return self.owner.describe() if self.owner else "an unknown holder (its owner file is unreadable)"


@dataclass
class BoardLock:
    transport: Transport
    path: str
    owner: LockOwner
    waited_s: float
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


_ACQUIRE = (
    # $1 lock dir, $2 owner json. Prints "acquired", or "held AGE" then the owner file.
    'if mkdir "$1" 2>/dev/null; then printf "%s\\n" "$2" > "$1/owner" && echo acquired && exit 0; '
    'rm -f "$1/owner"; rmdir "$1"; exit 1; fi; '
    # mkdir failed with no lock there: the workdir refuses it (read-only, full); mkdir again for its reason
    '[ -d "$1" ] || { mkdir "$1" && rmdir "$1"; exit 1; }; '
    # age of the last heartbeat; a lock dir without an owner file (holder died right after mkdir) by its own
    'now=$(date +%s); m=$(stat -c %Y "$1/owner" 2>/dev/null || date -r "$1/owner" +%s 2>/dev/null '
    '|| stat -c %Y "$1" 2>/dev/null || echo "$now"); echo "held $((now - m))"; cat "$1/owner" 2>/dev/null; exit 0'
)
# $1 lock dir, $2 the owner line we expect: remove only if it is still that owner's lock.
_RELEASE = '[ "$(cat "$1/owner" 2>/dev/null)" = "$2" ] || exit 0; rm -f "$1/owner"; rmdir "$1"'
# Breaking moves the stale lock aside (one rename wins) before deleting it.
_BREAK = ('[ "$(cat "$1/owner" 2>/dev/null)" = "$2" ] || exit 1; t="$1.stale.$$"; mv "$1" "$t" || exit 1; '
          'rm -rf "$t"')
_HEARTBEAT = '[ "$(cat "$1/owner" 2>/dev/null)" = "$2" ] && touch "$1/owner"'


def _local_pid_dead(owner: LockOwner) -> bool:
    if owner.host != socket.gethostname():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _parse_owner(text: str) -> LockOwner | None:
    try:
        return LockOwner(**json.loads(text))
    except (ValueError, TypeError):
        return None


@contextmanager
def board_lock(transport: Transport, workdir: str, *, wait: bool = True, purpose: str = "edgebench run",
               on_wait: Callable[[LockInfo], None] | None = None, stale_after_s: float = 180.0,
               heartbeat_s: float = 30.0, poll_s: float = 2.0,
               max_wait_s: float | None = None) -> Iterator[BoardLock]:
    """Hold the board's lock for the body of the `with`; released on success and on failure.

    wait=False refuses at once when another run holds it (the CLI's --no-wait). Otherwise `on_wait` is
    called once with the holder's details and the lock is polled every `poll_s` seconds. A lock whose
    holder is a dead process on this machine, or whose heartbeat is older than `stale_after_s`, is broken.
    """
    lock_dir = posixpath.join(workdir, LOCK_NAME)
    transport.run(["mkdir", "-p", "--", workdir], timeout=60).check(f"{transport.name}: creating {workdir}")
    owner = LockOwner(host=socket.gethostname(), pid=os.getpid(),
                      since_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), purpose=purpose,
                      token=secrets.token_hex(8))
    owner_line = json.dumps(dataclasses.asdict(owner), sort_keys=True)
    start = time.monotonic()
    told = False
    while True:
        info = _try_acquire(transport, lock_dir, owner_line)
        if info is None:
            break
        if info.age_s > stale_after_s or (info.owner is not None and _local_pid_dead(info.owner)):
            transport.run(["sh", "-c", _BREAK, "edgebench", lock_dir, info.raw_owner], timeout=60)
            continue
        holder = info.describe_holder()
        if not wait:
            raise EdgebenchError(f"{transport.name} is busy: its lock {lock_dir} is held by {holder}",
                                 hint="wait for that run to finish, or drop --no-wait to queue behind it")
        if max_wait_s is not None and time.monotonic() - start > max_wait_s:
            raise EdgebenchError(f"{transport.name}: gave up after {max_wait_s:g} s waiting for the lock held "
                                 f"by {holder}")
        if not told and on_wait is not None:
            on_wait(info)
            told = True
        time.sleep(poll_s)
    lock = BoardLock(transport=transport, path=lock_dir, owner=owner, waited_s=time.monotonic() - start)
    beat = threading.Thread(target=_heartbeat, args=(lock, owner_line, heartbeat_s), daemon=True)
    beat.start()
    try:
        yield lock
    finally:
        lock._stop.set()
        beat.join()
        try:
            transport.run(["sh", "-c", _RELEASE, "edgebench", lock_dir, owner_line], timeout=60)
        except ConnectionLost:
            pass  # the board is gone: the reason is the body's error, and the next run breaks this stale lock


def _try_acquire(transport: Transport, lock_dir: str, owner_line: str) -> LockInfo | None:
    """None when we now hold the lock, else what we know of the holder."""
    result = transport.run(["sh", "-c", _ACQUIRE, "edgebench", lock_dir, owner_line], timeout=60)
    result.check(f"{transport.name}: cannot create the lock {lock_dir} (is the workdir writable, with room?)")
    first, _, rest = result.stdout.partition("\n")
    if first == "acquired":
        return None
    age = float(first.split()[1]) if first.startswith("held ") else 0.0
    raw = rest.rstrip("\n")
    return LockInfo(owner=_parse_owner(raw), raw_owner=raw, age_s=age)


def _heartbeat(lock: BoardLock, owner_line: str, every_s: float) -> None:
    while not lock._stop.wait(every_s):
        try:
            lock.transport.run(["sh", "-c", _HEARTBEAT, "edgebench", lock.path, owner_line], timeout=60)
        except EdgebenchError:
            return  # the connection is gone; the run itself will report that
