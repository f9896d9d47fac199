"""Putting files on a board: only what changed, atomically (edgebench.boards.lock keeps one run per board).

deploy() asks the board for the sha256 of its copies in one `sha256sum` call, uploads only the files whose
hash differs (to a temporary name, then `mv` over the old one, so a reader never sees half a file) and reports
the bytes sent: an unchanged re-run sends none. Temporary files an interrupted upload left are removed first,
and an upload that fails for want of space says so with the board's free space.
"""

from __future__ import annotations

import posixpath
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from edgebench.boards.transport import ConnectionLost, Transport
from edgebench.errors import EdgebenchError
from edgebench.hashing import sha256_file

@dataclass(frozen=True)
class DeployedFile:
    name: str  # path relative to the remote dir
    sha256: str
    size: int
    sent: bool


@dataclass(frozen=True)
class DeploySummary:
    remote_dir: str
    files: list[DeployedFile]
    bytes_sent: int
    seconds: float
    hash_check: bool  # False: the board has no sha256sum, so every file was sent
    note: str = ""

    @property
    def files_sent(self) -> int:
        return sum(f.sent for f in self.files)


def _check_name(name: str) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise EdgebenchError(f"deploy: remote name {name!r} must be a plain relative path (no '..', no '/')")


def remote_hashes(transport: Transport, remote_dir: str, names: list[str]) -> dict[str, str] | None:
    """sha256 of each existing remote file (missing ones left out); None when the board lacks sha256sum."""
    # cd first so sha256sum prints the names exactly as given; `|| true` because missing files make it fail.
    script = 'cd "$1" || exit 3; shift; command -v sha256sum >/dev/null 2>&1 || exit 127; ' \
             'sha256sum -- "$@" 2>/dev/null; exit 0'
    result = transport.run(["sh", "-c", script, "edgebench", remote_dir, *names], timeout=120)
    if result.exit_status == 127:
        return None
    result.check(f"{transport.name}: hashing files in {remote_dir}")
    hashes: dict[str, str] = {}
    for line in result.stdout.splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and name in names:
            hashes[name] = digest
    return hashes


def deploy(transport: Transport, files: Mapping[str, str | Path], remote_dir: str,
           progress: Callable[[str, int], None] | None = None) -> DeploySummary:
    """Make remote_dir/NAME equal to each local file. `progress(name, size)` is called before each upload.

    File modes follow the local file's permission bits (the runner stays executable).
    """
    start = time.monotonic()
    names = list(files)
    for name in names:
        _check_name(name)
    local = {name: Path(files[name]) for name in names}
    for name, path in local.items():
        if not path.is_file():
            raise EdgebenchError(f"deploy: {path} (for {name}) is not a file")
    digests = {name: sha256_file(path) for name, path in local.items()}
    transport.run(["sh", "-c", _PREPARE, "edgebench", remote_dir, *names], timeout=60).check(
        f"{transport.name}: creating {remote_dir}")
    remote = remote_hashes(transport, remote_dir, names)
    note = "" if remote is not None else "the board has no sha256sum: every file sent"
    moves: list[str] = []  # flat (mode, temp or "", final) triples for one remote call
    deployed: list[DeployedFile] = []
    sent_bytes = 0
    for name in names:
        size = local[name].stat().st_size
        changed = remote is None or remote.get(name) != digests[name]
        final = posixpath.join(remote_dir, name)
        mode = f"{local[name].stat().st_mode & 0o777:o}"
        if changed:
            if progress is not None:
                progress(name, size)
            temp = posixpath.join(posixpath.dirname(final), f".{posixpath.basename(name)}{_TEMP_MARK}{secrets.token_hex(4)}")
            _upload(transport, local[name], temp, size)
            moves += [mode, temp, final]
            sent_bytes += size
        else:
            moves += [mode, "", final]  # unchanged: only make sure of the mode
        deployed.append(DeployedFile(name=name, sha256=digests[name], size=size, sent=changed))
    script = ('while [ "$#" -ge 3 ]; do '
              'if [ -n "$2" ]; then chmod "$1" "$2" && mv -f -- "$2" "$3" || exit 1; '
              'else chmod "$1" "$3" || exit 1; fi; shift 3; done')
    transport.run(["sh", "-c", script, "edgebench", *moves], timeout=120).check(
        f"{transport.name}: moving uploaded files into place in {remote_dir}")
    return DeploySummary(remote_dir=remote_dir, files=deployed, bytes_sent=sent_bytes,
                         seconds=time.monotonic() - start, hash_check=remote is not None, note=note)


_TEMP_MARK = ".tmp-"
# $1 the remote dir, then the names: create their folders and drop temporaries an interrupted upload left.
# Parameter expansion, not dirname/basename, and rm only where there is one: a minimal board may lack them.
_PREPARE = ('d=$1; shift; mkdir -p -- "$d" && cd -- "$d" || exit 1; command -v rm >/dev/null || r=:; '
            'for f; do p=${f%/*}; [ "$p" = "$f" ] && p=.; mkdir -p -- "$p" || exit 1; '
            f'${{r:-rm}} -f -- "$p/.${{f##*/}}{_TEMP_MARK}"* || exit 1; done')


def _upload(transport: Transport, local: Path, temp: str, size: int) -> None:
    """put() to a temporary name; a failure that is not a lost connection removes the partial file and, when
    the board lacks the room, says how much it has."""
    try:
        transport.put(local, temp)
    except ConnectionLost:
        raise  # the partial temporary stays until the next deploy removes it; it is never used
    except EdgebenchError as exc:
        transport.run(["rm", "-f", "--", temp], timeout=60)
        free_kib = _free_kib(transport, posixpath.dirname(temp))
        if free_kib is not None and free_kib * 1024 < size:
            raise EdgebenchError(f"{transport.name}: no room for {local.name} ({size} bytes) in "
                                 f"{posixpath.dirname(temp)}: {free_kib} KiB free",
                                 hint="free space on the board, then run again (--resume keeps what finished)") from None
        raise


def _free_kib(transport: Transport, remote_dir: str) -> int | None:
    """Free KiB where remote_dir lives (POSIX `df -Pk`), or None when the board cannot say."""
    result = transport.run(["df", "-Pk", "--", remote_dir], timeout=60)
    fields = result.stdout.strip().splitlines()[-1].split() if result.ok and result.stdout.strip() else []
    return int(fields[3]) if len(fields) >= 4 and fields[3].isdigit() else None
