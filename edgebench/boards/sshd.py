"""A private OpenSSH server living in one folder: keys, config, pid file and log all inside it, listening on
127.0.0.1 only and accepting one generated client key. Emulated targets (edgebench.boards.targets) and the
tests' stand-in boards (tests/conftest.py) are reached through one."""

from __future__ import annotations

import base64
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import paramiko

from edgebench.atomic import write_atomically
from edgebench.boards.devices import Connection
from edgebench.boards.ssh import known_hosts_name
from edgebench.errors import EdgebenchError

PRIVSEP_DIR = Path("/run/sshd")  # sshd started by root insists on this empty, root-owned folder


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
    """One private OpenSSH server living in `root`: keys, config, pid file and log all inside that folder."""

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
                keygen(key)
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
        write_atomically(self.known_hosts, text, mode=0o600)  # a concurrent connect sees the old or the new

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


def keygen(path: Path) -> None:
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
