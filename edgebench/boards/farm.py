"""A board in a labgrid lab (a devices.yaml entry with `labgrid: {place: ...}` or `{tags: {...}}`).

Opening it reserves a matching place in the coordinator's queue and acquires it; the place's NetworkService
says where its board answers, and from there it is the board it is (a real board, or an emulated target's
sshd on this machine): the same SSH transport with strict host keys, deploy, lock file (a second guard) and
state probe. Closing the link releases the place, on every exit path: an error, Ctrl-C, and SIGTERM, which
raises like Ctrl-C from the reservation to the release.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgebench.boards.board import Board, BoardLink, Counter, Endpoint, Reachability
from edgebench.boards.devices import LabgridPlace
from edgebench.boards.interrupts import sigterm_as_interrupt
from edgebench.boards.lab import Lab, Service, require_labgrid
from edgebench.boards.launcher import Launcher
from edgebench.boards.real import DEFAULT_REMOTE_WORKDIR
from edgebench.boards.reserve import Held, hold_place, release_place
from edgebench.boards.ssh import SSHTransport
from edgebench.boards.transport import Transport
from edgebench.console import err
from edgebench.errors import EdgebenchError
from edgebench.results.result import BoardState

if TYPE_CHECKING:
    from collections.abc import Callable

    from edgebench.bench.runtimes import Runtimes


@dataclass
class PlaceLink(BoardLink):
    """An open board on a held place: closing it closes the transport, then releases the place."""

    held: Held
    restore_sigterm: Callable[[], None]

    @property
    def board_name(self) -> str:
        return self.held.place

    def close(self) -> None:
        try:
            super().close()
        finally:
            try:
                problem = release_place(self.held)
                if problem:
                    err.print(f"[yellow]warning: {problem}[/yellow]")
            finally:
                self.restore_sigterm()


class LabgridBoard:
    """The board `inner` (RealBoard or EmulatedBoard of the same device), reached through a labgrid place.
    `wait`: queue while every matching place is in use (False: refuse at once, like --no-wait); `spec`: which
    places, when not the entry's own."""

    kind = "labgrid"
    lifecycle = None  # the lab's place: its exporter keeps the board up, not edgebench

    def __init__(self, inner: Board, wait: bool = True, spec: LabgridPlace | None = None):
        self.inner = inner
        self.device = inner.device
        self.spec = spec or inner.device.labgrid
        self.counts = inner.counts
        self.pins_cpus = inner.pins_cpus
        self.wait = wait

    def places(self) -> list[str]:
        """The names of the places this entry matches now, held or free (a spread run uses each it can get)."""
        return sorted(p.name for p in Lab(self._coordinator()).places() if p.matches(self.spec.wanted))

    def on_place(self, place: str) -> LabgridBoard:
        """This board on `place` alone (one that its tags match), refused at once while someone holds it: the
        same device entry, so its results are the entry's."""
        return LabgridBoard(self.inner, wait=False, spec=dataclasses.replace(self.spec, place=place, tags=()))

    @property
    def launcher(self) -> Launcher:
        return self.inner.launcher

    @property
    def workdir(self) -> str:
        return self.device.workdir or DEFAULT_REMOTE_WORKDIR

    def _connection(self, service: Service):
        return dataclasses.replace(self.spec.ssh, host=service.address, port=service.port, user=service.username)

    def endpoint(self, start: bool = True) -> Endpoint:
        """A named place's NetworkService, read without acquiring it (as `edgebench devices trust` needs)."""
        if self.spec.place is None:
            raise EdgebenchError(f"{self.device.name} is any labgrid place tagged {self.spec.describe()}: which "
                                 "board it is, is known only once one is acquired",
                                 hint="pin each place's host key through an entry naming that place (place: NAME)")
        service = Lab(self._coordinator()).service(self.spec.place)
        return Endpoint(self._connection(service), self.workdir)

    def open(self) -> BoardLink:
        address = self._coordinator()
        restore = sigterm_as_interrupt()
        try:
            held = hold_place(address, self.spec, self.device.name, wait=self.wait, on_wait=self._show_waiting)
            try:
                transport = SSHTransport.connect(self._connection(held.service),
                                                 name=f"{self.device.name} (labgrid place {held.place})")
            except BaseException:
                problem = release_place(held)
                if problem:
                    err.print(f"[yellow]warning: {problem}[/yellow]")
                raise
        except BaseException:
            restore()
            raise
        return PlaceLink(transport, self.workdir, held=held, restore_sigterm=restore)

    def reachability(self, timeout_s: float) -> Reachability:
        """Whether the coordinator answers and how many matching places are free (none is acquired)."""
        try:
            address = self._coordinator()
            matching = [p for p in Lab(address).places() if p.matches(self.spec.wanted)]
        except EdgebenchError as exc:
            return Reachability("unreachable", exc.message, hint=exc.hint)
        if not matching:
            return Reachability("unreachable", f"no place matches {self.spec.describe()} at {address}",
                                hint=f"labgrid-client -x {address} places")
        free = [p for p in matching if p.acquired_by is None and p.reservation is None]
        return Reachability("reachable", f"labgrid {address}: {len(free)} of {len(matching)} place(s) matching "
                                         f"{self.spec.describe()} free")

    def counter(self, runtimes: Runtimes) -> Counter | None:
        return self.inner.counter(runtimes)

    def state_before(self, transport: Transport) -> BoardState:
        return self.inner.state_before(transport)

    def state_after(self, transport: Transport, before: BoardState) -> BoardState:
        return self.inner.state_after(transport, before)

    def _coordinator(self) -> str:
        require_labgrid(self.device.name)
        return self.spec.coordinator_address(self.device.name)

    def _show_waiting(self, line: str) -> None:
        err.print(f"{self.device.name}: {line}")
