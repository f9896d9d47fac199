"""Emulated targets: a private OpenSSH server on 127.0.0.1 per emulated device, so QEMU runs take the SSH path.

`edgebench target up imx6` generates (once) a host key and a client key under data_dir()/targets/imx6/,
writes an sshd_config that accepts only that client key for the current user, starts /usr/sbin/sshd on a free
port and pins its host key in the target's own known_hosts once: later ups carry that pinned key to the new
port, so a replaced host key is refused as on a real board. The "board" is this machine; its workdir is a
folder next to the keys, and the device's programs run inside its board's system view behind the counting
emulator (edgebench.boards.launcher; the view is written to system-view/ in the same folder).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from edgebench.boards.board import Endpoint, TargetStatus
from edgebench.boards.devices import Device
from edgebench.boards.sshd import SshServer
from edgebench.boards.ssh import SSHTransport
from edgebench.errors import EdgebenchError
from edgebench.paths import data_dir, ensure_dir


def targets_dir() -> Path:
    return data_dir(create=False) / "targets"  # created by whatever writes there (lifecycle_lock)


def _require_emulated(device: Device) -> None:
    if not device.emulated:
        raise EdgebenchError(f"device {device.name!r} is not a qemu-user target (no emulator: entry)")


def state_dir(device: Device) -> Path:
    """data_dir()/targets/NAME; a name that is not a plain file name (quotes, spaces, '/', '%' which sshd_config
    would expand) gets a slug plus a hash of the name, so any name is safe here."""
    name = device.name
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        return targets_dir() / name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:40] or "target"
    return targets_dir() / f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def _server(device: Device) -> SshServer:
    return SshServer(state_dir(device))


def _workdir(device: Device) -> str:
    return device.workdir or str(state_dir(device) / "workdir")


@contextmanager
def lifecycle_lock(device: Device) -> Iterator[None]:
    """Serialise up/down of one target between concurrent edgebench processes on this machine."""
    folder = ensure_dir(state_dir(device), f"the state folder of target {device.name}", _DATA_HINT)
    try:
        handle = open(folder / ".lifecycle.lock", "w")
    except OSError as exc:
        raise EdgebenchError(f"cannot write the state of target {device.name} in {folder}: "
                             f"{exc.strerror or exc}", hint=_DATA_HINT) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


_DATA_HINT = "emulated targets keep keys and an sshd in EDGEBENCH_DATA: point it at a writable folder"


def _prepare_workdir(device: Device) -> None:
    """The emulated board's workdir, created and checked writable before its sshd starts (a run could only
    fail later, with the server left running)."""
    workdir = ensure_dir(Path(_workdir(device)), f"the workdir of {device.name}",
                         f"point workdir: of {device.name} in {device.source} at a writable folder")
    if not os.access(workdir, os.W_OK):
        raise EdgebenchError(f"the workdir {workdir} of {device.name} is read-only",
                             hint=f"point workdir: of {device.name} in {device.source} at a writable folder")


def target_status(device: Device) -> TargetStatus:
    _require_emulated(device)
    server = _server(device)
    info = server.running()
    up = info is not None and _accepts(info.port)
    return TargetStatus(name=device.name, up=up, pid=info.pid if up else None, port=info.port if up else None,
                        state_dir=str(server.root), workdir=_workdir(device), emulator=str(device.emulator))


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _check_emulator(device: Device) -> None:
    exe = device.emulator.argv[0]
    if shutil.which(exe) is None:
        raise EdgebenchError(f"{exe} not found: the emulated {device.name} runs its programs through it",
                             hint="sudo apt-get install qemu-user")


def target_up(device: Device) -> TargetStatus:
    """Start the target's sshd (a no-op when it is already up) and pin its key; returns its status."""
    _require_emulated(device)
    _check_emulator(device)
    with lifecycle_lock(device):
        _prepare_workdir(device)
        server = _server(device)
        info = server.running()
        if info is None or not _accepts(info.port):
            server.stop()
            info = server.start()
        server.pin(info.port)
    return target_status(device)


def target_down(device: Device) -> bool:
    """Stop the target's sshd; False when it was not running. Keys and workdir stay for the next `up`."""
    _require_emulated(device)
    with lifecycle_lock(device):
        return _server(device).stop()


def ensure_target_up(device: Device) -> Endpoint:
    """For `edgebench run`: the emulated target's endpoint, starting its sshd first when it is down."""
    target_up(device)
    server = _server(device)
    info = server.running()
    if info is None:
        raise EdgebenchError(f"target {device.name} went down right after starting", hint=f"see {server.log}")
    return Endpoint(connection=server.connection(info), workdir=_workdir(device))


def endpoint_for(device: Device, start_target: bool = True) -> Endpoint:
    """Where to reach the emulated target: started first when it is down, unless start_target is False."""
    _require_emulated(device)
    if start_target:
        return ensure_target_up(device)
    server = _server(device)
    info = server.running()
    if info is None:
        raise EdgebenchError(f"emulated target {device.name} is down", hint=f"edgebench target up {device.name}")
    return Endpoint(connection=server.connection(info), workdir=_workdir(device))


def connect(device: Device, start_target: bool = True) -> tuple[SSHTransport, Endpoint]:
    """An open SSH transport to the emulated target and its endpoint; close the transport after."""
    endpoint = endpoint_for(device, start_target=start_target)
    return SSHTransport.connect(endpoint.connection, name=device.name), endpoint


@dataclass(frozen=True)
class SshdLifecycle:
    """A qemu-user board's lifecycle is its private sshd's."""

    device: Device

    def up(self) -> TargetStatus:
        return target_up(self.device)

    def down(self) -> bool:
        return target_down(self.device)

    def status(self) -> TargetStatus:
        return target_status(self.device)
