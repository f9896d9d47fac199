"""Talking to a board over SSH (paramiko): edgebench.boards.transport's protocols for a real board or an
emulated board's private sshd.

Every argv element is shlex.quote'd, so a hostile model or file name reaches the board as one literal
argument. Host keys are strict: an unknown or changed key is refused with its SHA256 fingerprint and the
command that trusts it. Authentication is by key file or ssh-agent only.

paramiko reports a remote death by signal as exit status -1 (it ignores the SSH "exit-signal" message), so
every command runs inside a tiny POSIX sh wrapper that reports the signal number and the process id (the
pid lets a timeout or Ctrl-C kill the remote process instead of leaving it running on the board).
"""

from __future__ import annotations

import base64
import errno
import getpass
import hashlib
import logging
import os
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from edgebench.atomic import write_atomically
from edgebench.boards.devices import Connection
from edgebench.boards.transport import (CommandResult, CommandTimeout, ConnectError, ConnectionLost,
                                        ConnectProblem)
from edgebench.errors import EdgebenchError

# paramiko logs a failed handshake's traceback from its own thread; with no handler anywhere Python's
# last-resort handler prints it to stderr. Our errors say what happened, in one line.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_SSH_CONFIG = "~/.ssh/config"

_PID_MARK = "edgebench-pid:"
_SIGNAL_MARK = "edgebench-signal:"
# The inner shell announces its pid, then becomes the program (exec keeps the pid), so killing that pid
# kills the program itself.
_INNER = f'echo "{_PID_MARK}$$" >&2; exec "$@"'
# POSIX shells report a child killed by signal N as status 128+N; a program that exits with 129..192 on
# purpose looks the same, which is why the marker is only trusted together with that status.
_OUTER = (f'sh -c "$0" edgebench "$@"; s=$?; '
          f'if [ "$s" -gt 128 ] && [ "$s" -le 192 ]; then echo "{_SIGNAL_MARK}$((s - 128))" >&2; fi; exit "$s"')



def connect_problem(exc: BaseException) -> tuple[ConnectProblem, str]:
    """Why a socket or SSH handshake failed, and the OS's own words for it (without paramiko's wrapping)."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))  # one OSError per address tried; the first says it
    if isinstance(exc, socket.gaierror):
        return ConnectProblem.NAME_NOT_FOUND, exc.strerror or str(exc)
    if isinstance(exc, (socket.timeout, TimeoutError)) or getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return ConnectProblem.TIMED_OUT, "no answer"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return ConnectProblem.REFUSED, "connection refused"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN,
                                                  errno.EADDRNOTAVAIL):
        return ConnectProblem.NO_ROUTE, exc.strerror or str(exc)
    if isinstance(exc, (paramiko.SSHException, EOFError)):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (socket.timeout, TimeoutError)):
            return ConnectProblem.TIMED_OUT, "no SSH banner in time"
        return ConnectProblem.NOT_SSH, str(exc) or type(exc).__name__
    return ConnectProblem.NO_ROUTE, getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def check_identity_files(name: str, paths: tuple[str, ...] | list[str]) -> None:
    """Refuse an identity file that is missing or not a private key here (paramiko dies on binary garbage
    with a UnicodeDecodeError)."""
    for path in paths:
        try:
            head = Path(path).read_bytes()[:1 << 16]
        except OSError as exc:
            raise ConnectError(ConnectProblem.AUTH_FAILED,
                               f"identity file {path} for {name} cannot be read: {exc.strerror or exc}") from None
        if b"PRIVATE KEY-----" not in head:
            raise ConnectError(ConnectProblem.AUTH_FAILED,
                               f"identity file {path} for {name} is not an SSH private key (no "
                               f"'-----BEGIN ... PRIVATE KEY-----' block)",
                               hint="point connection.identity_file at the private key (not the .pub)")


def remote_command(argv: list[str] | tuple[str, ...]) -> str:
    """The one command string sent over SSH for argv: the signal-reporting wrapper, every element quoted."""
    if not argv:
        raise EdgebenchError("empty command")
    return shlex.join(["sh", "-c", _OUTER, _INNER, *argv])


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a key (what `ssh-keygen -lf` prints)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class ResolvedConnection:
    """A Connection with ~/.ssh/config applied: what is actually dialled."""

    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    proxy_jump: str | None
    proxy_command: str | None
    known_hosts: str
    ssh_config: str
    timeout_s: float

    @property
    def known_hosts_name(self) -> str:
        return known_hosts_name(self.hostname, self.port)


def resolve(conn: Connection) -> ResolvedConnection:
    """Apply ~/.ssh/config (or connection.ssh_config) to a Connection; fields set in devices.yaml win."""
    config_path = os.path.expanduser(conn.ssh_config or DEFAULT_SSH_CONFIG)
    looked: dict = {}
    if config_path == "none":  # like ssh -F none: read no config at all
        pass
    elif os.path.isfile(config_path):
        looked = paramiko.SSHConfig.from_path(config_path).lookup(conn.host)
    elif conn.ssh_config:
        raise EdgebenchError(f"ssh config {config_path} does not exist")
    identity = [conn.identity_file] if conn.identity_file else looked.get("identityfile", [])
    known_hosts = conn.known_hosts or (looked.get("userknownhostsfile", "").split() or [DEFAULT_KNOWN_HOSTS])[0]
    jump = conn.proxy_jump or looked.get("proxyjump")
    jump = None if jump == "none" else jump  # "none" switches a jump off, as in OpenSSH
    command = None if jump else looked.get("proxycommand")
    return ResolvedConnection(
        hostname=looked.get("hostname", conn.host),
        port=int(conn.port or looked.get("port", 22)),
        user=conn.user or looked.get("user") or getpass.getuser(),
        identity_files=tuple(os.path.expanduser(p) for p in identity),
        proxy_jump=jump,
        proxy_command=None if command == "none" else command,
        known_hosts=os.path.expanduser(known_hosts),
        ssh_config=config_path,
        timeout_s=conn.connect_timeout_s,
    )


def _parse_jump(hop: str, base: Connection) -> Connection:
    """One ProxyJump hop ("[user@]host[:port]") as a Connection sharing the device's files."""
    user, _, hostport = hop.rpartition("@")
    host, _, port = hostport.partition(":")
    if hostport.startswith("["):  # [ipv6]:port
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    if not host or (port and not port.isdigit()):
        raise EdgebenchError(f"ProxyJump hop {hop!r} is not [user@]host[:port]")
    return Connection(host=host, port=int(port) if port else None, user=user or None,
                      known_hosts=base.known_hosts, ssh_config=base.ssh_config,
                      connect_timeout_s=base.connect_timeout_s)


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    def __init__(self, device: str, resolved: ResolvedConnection):
        self.device, self.resolved = device, resolved

    def missing_host_key(self, client, hostname, key):
        raise unknown_key_error(self.device, self.resolved, key)


def unknown_key_error(device: str, resolved: ResolvedConnection, key: paramiko.PKey) -> EdgebenchError:
    keyscan = (f"ssh-keyscan -p {resolved.port} -t {key.get_name()} {resolved.hostname} "
               f">> {resolved.known_hosts}")
    return ConnectError(
        ConnectProblem.HOST_KEY,
        f"host key of {device} ({resolved.known_hosts_name}) is not in {resolved.known_hosts}: "
        f"{key.get_name()} {fingerprint(key)}; refusing to connect",
        hint=f"check that fingerprint on the board (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then run "
             f"`edgebench devices trust {device}` (or: {keyscan})")


def changed_key_error(device: str, resolved: ResolvedConnection, got: paramiko.PKey,
                      expected: paramiko.PKey) -> EdgebenchError:
    return ConnectError(
        ConnectProblem.HOST_KEY,
        f"host key of {device} ({resolved.known_hosts_name}) CHANGED: {resolved.known_hosts} has "
        f"{expected.get_name()} {fingerprint(expected)}, the server sent {got.get_name()} {fingerprint(got)}; "
        f"refusing to connect (someone may be intercepting the connection)",
        hint=f"if the board was reinstalled, check the new fingerprint on it, then run "
             f"`edgebench devices trust {device} --replace`")


class SSHTransport:
    """Transport over one SSH connection (paramiko). Use SSHTransport.connect(...); close() when done."""

    def __init__(self, name: str, client: paramiko.SSHClient, resolved: ResolvedConnection,
                 jumps: list[paramiko.SSHClient]):
        self.name = name
        self.resolved = resolved
        self._client = client
        self._jumps = jumps  # jump hosts' clients stay open as long as the tunnel through them
        self._sftp: paramiko.SFTPClient | None = None

    # -- connecting ------------------------------------------------------------------------------------------
    @classmethod
    def connect(cls, connection: Connection, name: str | None = None) -> "SSHTransport":
        name = name or connection.host
        resolved = resolve(connection)
        jumps: list[paramiko.SSHClient] = []
        try:
            sock = _open_route(resolved, connection, name, jumps)
            client = _login(name, resolved, sock)
        except BaseException:
            for jump in reversed(jumps):
                jump.close()
            raise
        return cls(name, client, resolved, jumps)

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # a dropped connection has nothing left to close politely
        self._client.close()
        for jump in reversed(self._jumps):
            jump.close()

    def __enter__(self) -> "SSHTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands --------------------------------------------------------------------------------------------
    def run(self, argv: list[str], timeout: float | None = None,
            on_stderr_line: Callable[[str], None] | None = None) -> CommandResult:
        """Run argv remotely. On timeout (or Ctrl-C) the remote process is killed and CommandTimeout raised.
        `on_stderr_line` is given each line of the program's stderr as it arrives (its progress, live)."""
        argv = [str(a) for a in argv]
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        channel = self._open_channel()
        out, err = bytearray(), bytearray()
        relayed = 0  # how much of err went to on_stderr_line
        pid: int | None = None
        finished = False
        try:
            try:
                channel.exec_command(remote_command(argv))
            except (OSError, EOFError, paramiko.SSHException) as exc:  # paramiko re-raises the transport's EOFError
                raise ConnectionLost(f"SSH connection to {self.name} lost before `{shlex.join(argv[:3])}` started: "
                                     f"{exc or type(exc).__name__}",
                                     hint="the board rebooted, its sshd died or the network dropped; run again") from None
            while True:
                progressed = False
                if channel.recv_ready():
                    out += channel.recv(1 << 16)
                    progressed = True
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                    progressed = True
                    pid = pid or _find_pid(err)
                    if on_stderr_line is not None:
                        relayed = _relay_lines(err, relayed, on_stderr_line)
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise CommandTimeout(f"{self.name}: `{shlex.join(argv[:3])}` still running after "
                                         f"{timeout:g} s; killed it")
                if not progressed:
                    time.sleep(0.01)
            status = channel.recv_exit_status()
            finished = True
        finally:
            if not finished:
                self._kill(pid or _find_pid(err))
            channel.close()
        if status == -1 and not self.connected:
            raise ConnectionLost(f"SSH connection to {self.name} lost while running `{shlex.join(argv[:3])}`",
                                 hint="the board rebooted, its sshd died or the network dropped; run again")
        return _result(argv, bytes(out), bytes(err), status, time.monotonic() - start)

    def _kill(self, pid: int | None) -> None:
        """Best effort: end a remote program we gave up on, so it does not keep the board busy."""
        if pid is None:
            return
        try:
            channel = self._open_channel()
            channel.exec_command(f"kill -TERM {pid} 2>/dev/null; sleep 1; kill -KILL {pid} 2>/dev/null; true")
            channel.recv_exit_status()
            channel.close()
        except (EdgebenchError, paramiko.SSHException, OSError):
            pass  # the connection is gone too: nothing more can be done from here

    @property
    def connected(self) -> bool:
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    def _open_channel(self) -> paramiko.Channel:
        if not self.connected:
            raise ConnectionLost(f"SSH connection to {self.name} is closed",
                                 hint="the board rebooted or the network dropped; run again")
        try:
            return self._client.get_transport().open_session()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectionLost(f"SSH connection to {self.name} lost: {exc}") from None

    # -- files -----------------------------------------------------------------------------------------------
    def put(self, local: str | Path, remote: str) -> None:
        try:
            self._sftp_client().put(str(local), remote, confirm=True)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._file_failure(f"upload {local} to {remote}", exc)

    def get(self, remote: str, local: str | Path) -> None:
        try:
            self._sftp_client().get(remote, str(local))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._file_failure(f"download {remote}", exc)

    def _file_failure(self, what: str, exc: BaseException) -> None:
        if not self.connected:
            raise ConnectionLost(f"SSH connection to {self.name} lost while trying to {what}",
                                 hint="the board rebooted, its sshd died or the network dropped; run again") from None
        raise EdgebenchError(f"{self.name}: cannot {what}: {exc or type(exc).__name__}") from None

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
            except (paramiko.SSHException, OSError) as exc:
                raise EdgebenchError(f"{self.name}: SFTP is not available: {exc}",
                                     hint="enable the sftp subsystem in the board's sshd_config") from None
        return self._sftp


def _relay_lines(err: bytearray, start: int, on_line: Callable[[str], None]) -> int:
    """Give on_line each complete line of err from `start` on (not the wrapper's marker); where to go on."""
    while (end := err.find(b"\n", start)) >= 0:
        line = err[start:end].decode("utf-8", "replace")
        if not line.startswith(_PID_MARK):
            on_line(line)
        start = end + 1
    return start


def _find_pid(err: bytearray) -> int | None:
    start = err.find(_PID_MARK.encode())
    if start < 0:
        return None
    end = err.find(b"\n", start)
    if end < 0:
        return None
    digits = err[start + len(_PID_MARK):end]
    return int(digits) if digits.isdigit() else None


def _result(argv: list[str], out: bytes, err: bytes, status: int, duration: float) -> CommandResult:
    """Strip the wrapper's marker lines from stderr and turn 128+N plus the marker into signal N."""
    lines = err.decode("utf-8", "replace").splitlines(keepends=True)
    sig = None
    if lines and lines[-1].startswith(_SIGNAL_MARK):
        number = lines.pop().strip()[len(_SIGNAL_MARK):]
        if number.isdigit() and status == 128 + int(number):
            sig = int(number)
    lines = [line for line in lines if not line.startswith(_PID_MARK)]
    exit_status = None if sig is not None or status == -1 else status
    return CommandResult(argv=tuple(argv), stdout=out.decode("utf-8", "replace"), stderr="".join(lines),
                         exit_status=exit_status, signal=sig, duration_s=duration)


def _open_route(resolved: ResolvedConnection, connection: Connection, name: str,
                jumps: list[paramiko.SSHClient]):
    """A socket-like path to the target: None (paramiko dials directly), a ProxyCommand or a ProxyJump chain.

    Every jump host is logged into with the same strict host-key rules; `jumps` collects their clients so the
    caller can close them.
    """
    if resolved.proxy_command:
        return paramiko.ProxyCommand(resolved.proxy_command)
    if not resolved.proxy_jump:
        return None
    labels = [h.strip() for h in resolved.proxy_jump.split(",") if h.strip()]
    hops = [resolve(_parse_jump(label, connection)) for label in labels]
    sock = None
    for index, (label, hop) in enumerate(zip(labels, hops)):
        client = _login(f"{name} (jump host {label})", hop, sock)
        jumps.append(client)
        nxt = hops[index + 1] if index + 1 < len(hops) else resolved
        try:
            sock = client.get_transport().open_channel("direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0),
                                                       timeout=hop.timeout_s)
        except (paramiko.SSHException, OSError) as exc:
            raise ConnectError(ConnectProblem.NO_ROUTE,
                               f"jump host {label} cannot reach {nxt.hostname}:{nxt.port}: {exc}") from None
    return sock


def _login(name: str, resolved: ResolvedConnection, sock) -> paramiko.SSHClient:
    check_identity_files(name, resolved.identity_files)
    client = paramiko.SSHClient()
    if os.path.isfile(resolved.known_hosts):
        try:
            client.load_host_keys(resolved.known_hosts)
        except (OSError, paramiko.SSHException) as exc:
            raise EdgebenchError(f"cannot read known_hosts file {resolved.known_hosts}: {exc}") from None
    client.set_missing_host_key_policy(_RefuseUnknownKey(name, resolved))
    where = f"{resolved.user}@{resolved.hostname}:{resolved.port}"
    try:
        client.connect(
            resolved.hostname, port=resolved.port, username=resolved.user, password=None,
            key_filename=list(resolved.identity_files) or None,
            look_for_keys=not resolved.identity_files, allow_agent=True, sock=sock,
            # a second more for the handshake than for the banner: a silent port then fails as "no banner",
            # not with paramiko's "No existing session" from a handshake wait that ended first
            timeout=resolved.timeout_s + 1, banner_timeout=resolved.timeout_s, auth_timeout=resolved.timeout_s)
    except EdgebenchError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise changed_key_error(name, resolved, exc.key, exc.expected_key) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        keys = ", ".join(resolved.identity_files) or "ssh-agent and ~/.ssh/id_*"
        raise ConnectError(ConnectProblem.AUTH_FAILED,
                           f"SSH login to {name} as {where} refused (auth failed: {exc}); tried {keys}") from None
    except (UnicodeDecodeError, ValueError) as exc:  # a key file paramiko cannot parse at all
        client.close()
        raise ConnectError(ConnectProblem.AUTH_FAILED,
                           f"SSH login to {name} as {where}: a key could not be read ({exc})") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise _unreachable(name, where, exc) from None
    # Keepalives: a run holds its connection while it exports and builds; idle NAT entries must not expire.
    client.get_transport().set_keepalive(15)
    return client


def _unreachable(name: str, where: str, exc: BaseException) -> ConnectError:
    problem, detail = connect_problem(exc)
    return ConnectError(problem, f"cannot reach {name} at {where}: {problem.value} ({detail})")


def fetch_host_key(connection: Connection, name: str | None = None) -> tuple[ResolvedConnection, paramiko.PKey]:
    """The key the server presents, without logging in (jump hosts on the way are still checked strictly)."""
    name = name or connection.host
    resolved = resolve(connection)
    jumps: list[paramiko.SSHClient] = []
    try:
        sock = _open_route(resolved, connection, name, jumps)
        if sock is None:
            sock = socket.create_connection((resolved.hostname, resolved.port), timeout=resolved.timeout_s)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=resolved.timeout_s)
            return resolved, transport.get_remote_server_key()
        finally:
            transport.close()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise _unreachable(name, f"{resolved.hostname}:{resolved.port}", exc) from None
    finally:
        for jump in reversed(jumps):
            jump.close()


def pinned_keys(known_hosts: str | Path, host: str, port: int) -> list[paramiko.PKey]:
    """The keys known_hosts holds for host:port (hashed entries included)."""
    path = Path(known_hosts).expanduser()
    if not path.is_file():
        return []
    keys = paramiko.HostKeys(str(path)).lookup(known_hosts_name(host, port))
    return list(keys.values()) if keys else []


def pin_host_key(known_hosts: str | Path, host: str, port: int, key: paramiko.PKey, replace: bool = False) -> None:
    """Write `key` for host:port into known_hosts. replace=True first drops every other entry for that host."""
    path = Path(known_hosts).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry_name = known_hosts_name(host, port)
    lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
    if replace:
        lines = [line for line in lines if not _line_names(line, entry_name)]
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.append(f"{entry_name} {key.get_name()} {key.get_base64()}\n")
    write_atomically(path, "".join(lines), mode=0o600)


def _line_names(line: str, entry_name: str) -> bool:
    entry = paramiko.hostkeys.HostKeyEntry.from_line(line) if line.strip() and not line.startswith("#") else None
    if entry is None:
        return False
    for pattern in entry.hostnames:
        if pattern.startswith("|1|"):
            if paramiko.HostKeys.hash_host(entry_name, pattern) == pattern:
                return True
        elif pattern == entry_name:
            return True
    return False
