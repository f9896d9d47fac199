"""Talking to a board, in the manner of labgrid's CommandProtocol and FileTransferProtocol: callers give argv
lists (never command strings), get a CommandResult back, and meet one vocabulary for why a board could not be
reached. Its implementation over SSH is edgebench.boards.ssh (kept apart so paramiko loads only when a board
is actually reached)."""

from __future__ import annotations

import enum
import shlex
import signal as signal_module
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from edgebench.errors import EdgebenchError

# Why a signal likely hit a benchmark runner, in words a user can act on.
SIGNAL_HINTS = {
    "SIGILL": "VFPv4/NEON mismatch? the binary uses instructions this CPU lacks",
    "SIGKILL": "out of memory (the kernel's OOM killer) or killed on purpose",
    "SIGBUS": "unaligned memory access or a truncated binary/model file",
    "SIGSEGV": "a crash in the runner (bad model file, or a layer compiled out of the runtime)",
}

def signal_name(number: int) -> str:
    try:
        return signal_module.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True)
class CommandResult:
    """How one remote command ended. exit_status is None when a signal (or a lost connection) ended it."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    exit_status: int | None
    signal: int | None
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def signal_name(self) -> str | None:
        return None if self.signal is None else signal_name(self.signal)

    def describe(self) -> str:
        """'exit status 3', 'killed by SIGILL (VFPv4/NEON mismatch? ...)' and the like."""
        if self.signal is not None:
            name = signal_name(self.signal)
            hint = SIGNAL_HINTS.get(name)
            return f"killed by {name}" + (f" ({hint})" if hint else "")
        if self.exit_status is None:
            return "ended without an exit status (the remote shell itself was killed)"
        if self.exit_status == 127:
            return "exit status 127 (command not found on the board)"
        return f"exit status {self.exit_status}"

    def check(self, what: str | None = None) -> "CommandResult":
        """Return self when the command succeeded, else raise a one-line EdgebenchError."""
        if self.ok:
            return self
        label = what or shlex.join(self.argv[:3]) + (" ..." if len(self.argv) > 3 else "")
        tail = self.stderr.strip().splitlines()[-1:] if self.stderr.strip() else []
        raise EdgebenchError(f"{label}: {self.describe()}" + (f": {tail[0]}" if tail else ""))


class CommandTimeout(EdgebenchError):
    """The command outlived its timeout; the remote process was killed."""


class ConnectionLost(EdgebenchError):
    """The SSH connection dropped while a command ran (board rebooted, sshd killed, network gone)."""


class ConnectProblem(enum.Enum):
    """Why a board could not be reached: the one vocabulary of `edgebench run`, `devices` and `devices trust`."""

    REFUSED = "refused"
    TIMED_OUT = "timed out"
    NO_ROUTE = "no route"
    NAME_NOT_FOUND = "name not found"
    NOT_SSH = "no SSH server"
    AUTH_FAILED = "auth failed"
    HOST_KEY = "host key"

    @property
    def hint(self) -> str:
        return _CONNECT_HINTS[self]


_CONNECT_HINTS = {
    ConnectProblem.REFUSED: "nothing listens there: is the board up with sshd running, and the port right?",
    ConnectProblem.TIMED_OUT: "no answer: is the board powered and on this network? a firewall may drop SSH; "
                              "connection.connect_timeout_s in devices.yaml allows slower links",
    ConnectProblem.NO_ROUTE: "this machine has no route to that address: check the network (VPN, cable) and "
                             "connection.host in devices.yaml",
    ConnectProblem.NAME_NOT_FOUND: "the host name does not resolve: check connection.host in devices.yaml or the "
                                   "~/.ssh/config alias",
    ConnectProblem.NOT_SSH: "something answered but not as an SSH server: check the port in devices.yaml",
    ConnectProblem.AUTH_FAILED: "set connection.identity_file in devices.yaml or add the key to ssh-agent "
                                "(passwords are not supported)",
    ConnectProblem.HOST_KEY: "the board's host key is not the one pinned in known_hosts: check its fingerprint on "
                             "the board, then `edgebench devices trust` it (--replace for a reinstalled board)",
}


class ConnectError(EdgebenchError):
    """The board could not be reached or logged into; `problem` says why in the shared vocabulary."""

    def __init__(self, problem: ConnectProblem, message: str, hint: str | None = None):
        super().__init__(message, hint or problem.hint)
        self.problem = problem


@runtime_checkable
class CommandProtocol(Protocol):
    def run(self, argv: list[str], timeout: float | None = None,
            on_stderr_line: Callable[[str], None] | None = None) -> CommandResult:
        """Run argv on the target; each element arrives as one literal argument."""


@runtime_checkable
class FileTransferProtocol(Protocol):
    def put(self, local: str | Path, remote: str) -> None:
        """Copy a local file to a remote path (relative = under the login's home)."""

    def get(self, remote: str, local: str | Path) -> None:
        """Copy a remote file to a local path."""


@runtime_checkable
class Transport(CommandProtocol, FileTransferProtocol, Protocol):
    name: str

    def close(self) -> None: ...
