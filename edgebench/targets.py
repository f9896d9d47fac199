"""Emulated targets: a private OpenSSH server on 127.0.0.1 per emulated device, so QEMU runs take the SSH path.

`edgebench target up imx6` generates (once) a host key and a client key under data_dir()/targets/imx6/,
writes an sshd_config that accepts only that client key for the current user, starts /usr/sbin/sshd on a free
port and pins its host key in the target's own known_hosts once: later ups carry that pinned key to the new
port, so a replaced host key is refused as on a real board. The "board" is this machine; its workdir is a
folder next to the keys, and the device's programs run inside its board's system view behind the counting
emulator (edgebench.launcher; the view is written to system-view/ in the same folder).
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import paramiko

from edgebench.boards.board import Endpoint
from edgebench.devices import Connection, Device
from edgebench.errors import EdgebenchError
from edgebench.paths import data_dir, ensure_dir
from edgebench.transport import SSHTransport, known_hosts_name

PRIVSEP_DIR = Path("/run/sshd")  # sshd started by root insists on this empty, root-owned folder


def targets_dir() -> Path:
    return data_dir(create=False) / "targets"  # created by whatever writes there (_target_lock)


def find_sshd() -> str:
    """sshd must be started by absolute path (it re-executes itself)."""
    for candidate in ("/usr/sbin/sshd", shutil.which("sshd")):
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise EdgebenchError("OpenSSH server (sshd) not found: emulated targets are reached over SSH",
                         hint="sudo apt-get install openssh-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    user: str


class SshServer:
    """One private OpenSSH server living in `root`: keys, config, pid file and log all inside that folder.

    Reusable by tests (tests/conftest.py) and by emulated targets alike.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.client_key = self.root / "client_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.config = self.root / "sshd_config"
        self.pidfile = self.root / "sshd.pid"
        self.log = self.root / "sshd.log"
        self.state = self.root / "server.json"

    # -- keys and config ------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Generate missing keys. StrictModes is off (the folder may sit under a world-writable /tmp), so the
        modes it would check are enforced here instead: folder 0700, keys and authorized_keys 0600."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for key in (self.host_key, self.client_key):
            if not key.exists():
                _keygen(key)
        self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        os.chmod(self.authorized_keys, 0o600)

    def host_public_key(self) -> paramiko.PKey:
        kind, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))

    def _write_config(self, port: int, user: str) -> None:
        q = _quote_config
        self.config.write_text("\n".join([
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {q(self.host_key)}",
            f"PidFile {q(self.pidfile)}",
            f"AuthorizedKeysFile {q(self.authorized_keys)}",
            f"AllowUsers {user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            # bash sources ~/.bashrc for commands sent over SSH (when SHLVL says it is the first shell); the
            # host user's interactive setup (pyenv init and the like: ~0.3 s here) has no place on a board.
            "SetEnv SHLVL=1",
            "PrintMotd no",
            "MaxStartups 64:30:128",
            "MaxSessions 64",
            "ClientAliveInterval 15",
            "ClientAliveCountMax 4",
            "LogLevel INFO",
            "",
        ]))

    # -- lifecycle ------------------------------------------------------------------------------------------
    def running(self) -> ServerInfo | None:
        """The server recorded in server.json, if that process is still our sshd."""
        try:
            info = ServerInfo(**json.loads(self.state.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not _alive(info.pid):
            return None
        try:
            # sshd rewrites its title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener]"), so match a substring.
            cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes()
        except OSError:
            return None
        return info if str(self.config).encode() in cmdline else None

    def start(self, port: int | None = None, timeout_s: float = 10.0) -> ServerInfo:
        """Start sshd (daemonized) and return once it listens. A lost race for a free port is retried."""
        current = self.running()
        if current is not None:
            return current
        self.prepare()
        user = getpass.getuser()
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755)
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            chosen = port if port is not None else free_port()
            self._write_config(chosen, user)
            self.pidfile.unlink(missing_ok=True)
            self.log.unlink(missing_ok=True)
            done = subprocess.run([find_sshd(), "-f", str(self.config), "-E", str(self.log)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise EdgebenchError(f"sshd refused its config {self.config}: "
                                     f"{(done.stderr or self._log_tail()).strip()}")
            pid = self._wait_listening(chosen, timeout_s)
            if pid is not None:
                info = ServerInfo(pid=pid, port=chosen, user=user)
                self.state.write_text(json.dumps(asdict(info)))
                return info
            if "Bind to port" not in self._log_tail() or attempt == attempts - 1:
                break
        raise EdgebenchError(f"sshd did not start on 127.0.0.1: {self._log_tail().strip() or 'no log'}",
                             hint=f"full log: {self.log}")

    def _wait_listening(self, port: int, timeout_s: float) -> int | None:
        """sshd writes its pid file after it listens; a failed bind leaves none and a line in the log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pidfile.is_file():
                text = self.pidfile.read_text().strip()
                if text.isdigit() and _alive(int(text)):
                    return int(text)
            if "fatal" in self._log_tail() or "Cannot bind any address" in self._log_tail():
                return None
            time.sleep(0.05)
        return None

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop the server; False when none was running."""
        info = self.running()
        self.state.unlink(missing_ok=True)
        if info is None:
            return False
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(info.pid):
            if time.monotonic() > deadline:
                os.kill(info.pid, signal.SIGKILL)
                deadline += timeout_s
            time.sleep(0.05)
        return True

    def pin(self, port: int) -> None:
        """Point the private known_hosts at this port with the identity pinned the first time, which is read
        from the .pub file only while nothing is pinned: a host key replaced since is refused at connect like
        a real board's, until `edgebench devices trust NAME --replace` pins the new one (and that sticks)."""
        keys = pinned_identity(self.known_hosts) or [self.host_public_key()]
        name = known_hosts_name("127.0.0.1", port)
        text = "".join(f"{name} {key.get_name()} {key.get_base64()}\n" for key in keys)
        tmp = self.known_hosts.with_name(f".{self.known_hosts.name}.tmp{os.getpid()}")
        tmp.write_text(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.known_hosts)  # a concurrent connect sees the old file or the new, never none

    def connection(self, info: ServerInfo) -> Connection:
        # ssh_config "none": a user's `Host *` settings (a ProxyJump, say) must not apply to 127.0.0.1.
        return Connection(host="127.0.0.1", port=info.port, user=info.user, identity_file=str(self.client_key),
                          known_hosts=str(self.known_hosts), ssh_config="none", connect_timeout_s=10.0)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-5:])
        except OSError:
            return ""


def pinned_identity(known_hosts: Path) -> list[paramiko.PKey]:
    """Every distinct key a target's private known_hosts holds, whatever port it was pinned for."""
    if not known_hosts.is_file():
        return []
    keys: dict[bytes, paramiko.PKey] = {}
    for entry in paramiko.HostKeys(str(known_hosts)).values():
        for key in entry.values():
            keys.setdefault(key.asbytes(), key)
    return list(keys.values())


def _keygen(path: Path) -> None:
    done = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"edgebench {path.name}",
                           "-f", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise EdgebenchError(f"ssh-keygen failed for {path}: {done.stderr.strip()}",
                             hint="sudo apt-get install openssh-client")
    os.chmod(path, 0o600)


def _quote_config(path: Path) -> str:
    text = str(path)
    if '"' in text or "%" in text:
        raise EdgebenchError(f"cannot use {text!r} in an sshd_config (it holds '\"' or '%')",
                             hint="point EDGEBENCH_DATA at a plainer folder")
    return f'"{text}"'


# -- targets ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetStatus:
    name: str
    up: bool
    pid: int | None
    port: int | None
    state_dir: str
    workdir: str
    emulator: str


def _require_emulated(device: Device) -> None:
    if not device.emulated:
        raise EdgebenchError(f"device {device.name!r} is a real board, not an emulated target",
                             hint="`edgebench target` manages emulated devices (those with an emulator: entry)")


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
def _target_lock(device: Device) -> Iterator[None]:
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
    with _target_lock(device):
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
    with _target_lock(device):
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


def emulated_devices(devices: Iterable[Device]) -> list[Device]:
    """The devices that are emulated targets (what `edgebench target status` lists)."""
    return [d for d in devices if d.emulated]
