"""What differs between kinds of board, behind one protocol (in the manner of labgrid's Target and its
protocols): how a board is reached, how a program starts there, what its state probe reads and whether its
runs are counted. Code outside edgebench.boards holds a Board and never asks which kind it is.

    board = board_for(device)          # RealBoard (SSH to hardware), EmulatedBoard (private sshd + QEMU)
                                       # either one on a labgrid place (LabgridBoard) when the entry names one
                                       # or SystemBoard (a real ARM Linux under qemu-system, reached like hardware)
    link = board.open()                # an open transport and the workdir there; link.close() after
    board.lifecycle                    # up/down/status of a board edgebench starts itself; None otherwise
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edgebench.boards.devices import Connection, Device
from edgebench.boards.launcher import Launcher
from edgebench.boards.transport import Transport
from edgebench.results.result import BoardState

if TYPE_CHECKING:
    from edgebench.bench.runtimes import Runtimes
    from edgebench.caches import CacheGeometry


@dataclass(frozen=True)
class Endpoint:
    """Where a board is reached over SSH and where its files live there."""

    connection: Connection
    workdir: str


@dataclass
class BoardLink:
    """An open board: commands and files go over `transport`; a run's files live under `workdir`."""

    transport: Transport
    workdir: str

    @property
    def board_name(self) -> str | None:
        """Which board of several the device's entry stands for (a labgrid place); None: the entry's own."""
        return None

    def close(self) -> None:
        self.transport.close()


@dataclass(frozen=True)
class Reachability:
    """Whether a board answers now, as the inventory shows it."""

    status: str  # emulated: "up" | "down"; real: "reachable" | "unreachable"
    detail: str  # where it listens, or why it does not answer
    problem: str | None = None  # unreachable: transport.ConnectProblem's word for why (refused, timed out, ...)
    hint: str | None = None  # what to check


@dataclass(frozen=True)
class TargetStatus:
    """A board edgebench starts itself, as `edgebench target status` shows it."""

    name: str
    up: bool
    pid: int | None
    port: int | None
    state_dir: str
    workdir: str
    emulator: str
    problem: str | None = None  # a full-system board that crashed or hangs, named (edgebench.boards.system_board)


class Lifecycle(Protocol):
    """Starting and stopping a board that runs on this machine (an emulated one): `edgebench target`."""

    def up(self) -> TargetStatus:
        """Start it (a no-op when it is up); its status after."""

    def down(self) -> bool:
        """Stop it; False when it was not running."""

    def status(self) -> TargetStatus:
        """Whether it is up, and where."""


@dataclass(frozen=True)
class Counter:
    """Counting on a board that counts: the QEMU plugin to upload and the cache model it is given."""

    plugin: Path
    caches: CacheGeometry

    def options(self, counts_file: str, plugin_on_board: str, symbols: bool) -> list[str]:
        """The emulator's arguments that count one run into `counts_file` (paths as the board sees them)."""
        from edgebench.ncnn_tools.plugin import plugin_args

        return plugin_args(counts_file, self.caches, lib=Path(plugin_on_board), symbols=symbols)


class Board(Protocol):
    device: Device
    kind: str  # "real" | "emulated" | "labgrid" | "system": what the inventory calls it
    counts: bool  # exact per-iteration counts (instructions, cache misses) can be made here
    pins_cpus: bool  # --cpus names this board's cores (under qemu-user it would pin host threads)
    lifecycle: Lifecycle | None  # None: the board runs on its own (hardware, a lab's place)

    @property
    def launcher(self) -> Launcher:
        """How a program starts as the board's CPU."""

    def endpoint(self, start: bool = True) -> Endpoint:
        """Where the board is reached; start=False never starts anything (an emulated board's sshd)."""

    def open(self) -> BoardLink:
        """Connect (starting what the board needs); the caller closes the link."""

    def reachability(self, timeout_s: float) -> Reachability:
        """Whether the board answers now (a quick login, or whether its server is up)."""

    def counter(self, runtimes: Runtimes) -> Counter | None:
        """What counting needs here, built now; None on a board that is timed, not counted."""

    def state_before(self, transport: Transport) -> BoardState:
        """The board just before a run."""

    def state_after(self, transport: Transport, before: BoardState) -> BoardState:
        """`before` completed with what the board says after the run, and the flags that calls for."""


def board_for(device: Device, *, wait: bool = True) -> Board:
    """The Board of an inventory entry: emulated when it names an emulator, a full-system emulated board when
    it names a system image, else a real board over SSH; on a labgrid place when it names one (`wait`: queue
    for the place while it is in use, else refuse at once)."""
    from edgebench.boards.emulated import EmulatedBoard
    from edgebench.boards.real import RealBoard
    from edgebench.boards.system_board import SystemBoard

    if device.system is not None:
        return SystemBoard(device)
    board = EmulatedBoard(device) if device.emulated else RealBoard(device)
    if device.labgrid is None:
        return board
    from edgebench.boards.farm import LabgridBoard

    return LabgridBoard(board, wait=wait)
