"""A real board: reached over SSH as devices.yaml says, programs run natively, timed (not counted), its
clock, governor and temperature read before and after every run."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from edgebench.boards.board import BoardLink, Counter, Endpoint, Reachability
from edgebench.boards.devices import Device
from edgebench.boards.launcher import Launcher
from edgebench.boards.state import measured_state_after, measured_state_before
from edgebench.boards.ssh import SSHTransport
from edgebench.boards.transport import ConnectError, Transport
from edgebench.errors import EdgebenchError
from edgebench.results.result import BoardState

if TYPE_CHECKING:
    from edgebench.bench.runtimes import Runtimes

DEFAULT_REMOTE_WORKDIR = "edgebench"  # under the login's home


class RealBoard:
    kind = "real"
    counts = False
    pins_cpus = True
    lifecycle = None  # hardware runs on its own

    def __init__(self, device: Device):
        self.device = device

    @property
    def launcher(self) -> Launcher:
        return Launcher()

    def endpoint(self, start: bool = True) -> Endpoint:
        return Endpoint(connection=self.device.connection, workdir=self.device.workdir or DEFAULT_REMOTE_WORKDIR)

    def open(self) -> BoardLink:
        endpoint = self.endpoint()
        return BoardLink(SSHTransport.connect(endpoint.connection, name=self.device.name), endpoint.workdir)

    def reachability(self, timeout_s: float) -> Reachability:
        connection = dataclasses.replace(self.device.connection, connect_timeout_s=timeout_s)
        try:
            SSHTransport.connect(connection, name=self.device.name).close()
        except ConnectError as exc:
            return Reachability("unreachable", exc.message, exc.problem.value, exc.hint)
        except EdgebenchError as exc:  # the entry itself is unusable (an ssh config that does not exist, say)
            return Reachability("unreachable", exc.message, hint=exc.hint)
        return Reachability("reachable", self.device.connection.host)

    def counter(self, runtimes: Runtimes) -> Counter | None:
        return None

    def state_before(self, transport: Transport) -> BoardState:
        return measured_state_before(transport, self.device)

    def state_after(self, transport: Transport, before: BoardState) -> BoardState:
        return measured_state_after(transport, self.device, before)
