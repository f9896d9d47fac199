"""A gzipped cpio (newc) archive, the format Linux unpacks as its initramfs, written without root: every entry
is owned by root and given its mode here, device nodes included, and timestamps are zero so the same tree
gives the same bytes."""

from __future__ import annotations

import gzip
import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DeviceNode:
    path: str  # inside the archive, e.g. "dev/console"
    major: int
    minor: int
    mode: int = 0o600


def _entry(name: str, mode: int, data: bytes = b"", ino: int = 0, rdev: tuple[int, int] = (0, 0)) -> bytes:
    encoded = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    pad = lambda n: b"\0" * (-n % 4)  # noqa: E731 - newc pads header+name and data to 4 bytes
    return header + encoded + pad(len(header) + len(encoded)) + data + pad(len(data))


def write_initramfs(tree: Path, out: Path, modes: dict[str, int], nodes: tuple[DeviceNode, ...]) -> None:
    """`tree` as a gzipped newc archive at `out`; `modes` overrides the permission bits of named paths
    (relative, e.g. "root/.ssh": 0o700) where the tree's own would be too open for the SSH server."""
    chunks: list[bytes] = []
    ino = 1
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(tree).as_posix()
            info = path.lstat()
            perm = modes.get(rel, stat.S_IMODE(info.st_mode))
            if stat.S_ISLNK(info.st_mode):
                chunks.append(_entry(rel, stat.S_IFLNK | 0o777, os.readlink(path).encode(), ino))
            elif stat.S_ISDIR(info.st_mode):
                chunks.append(_entry(rel, stat.S_IFDIR | perm, ino=ino))
            else:
                chunks.append(_entry(rel, stat.S_IFREG | perm, path.read_bytes(), ino))
            ino += 1
    for node in nodes:
        chunks.append(_entry(node.path, stat.S_IFCHR | node.mode, ino=ino, rdev=(node.major, node.minor)))
        ino += 1
    chunks.append(_entry("TRAILER!!!", 0))
    with open(out, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(b"".join(chunks))
