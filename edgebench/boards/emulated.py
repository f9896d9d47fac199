"""An emulated board: a private sshd on 127.0.0.1 (edgebench.boards.targets) reached like a real board, programs
run inside the board's own system view behind qemu-user, and runs counted exactly by the QEMU plugin."""

from __future__ import annotations

import shutil
from functools import cached_property
from typing import TYPE_CHECKING

from edgebench.boards import targets
from edgebench.boards.board import BoardLink, Counter, Endpoint, Reachability
from edgebench.boards.devices import Device
from edgebench.boards.launcher import Launcher
from edgebench.boards.state import emulated_state
from edgebench.boards.transport import Transport
from edgebench.errors import EdgebenchError
from edgebench.results.result import BoardState

if TYPE_CHECKING:
    from edgebench.bench.runtimes import Runtimes


class EmulatedBoard:
    kind = "emulated"
    counts = True
    pins_cpus = False

    def __init__(self, device: Device):
        self.device = device
        self.lifecycle = targets.SshdLifecycle(device)

    @cached_property
    def launcher(self) -> Launcher:
        """The board's view, (re)written under the target's state folder and checked before anything is sent."""
        from edgebench.ncnn_tools.qemu_build import resolve_emulator_argv
        from edgebench.boards.sysview import board_view, materialize, require_namespace_support, view_prefix

        require_namespace_support()
        view = board_view(self.device)
        folder = materialize(view, targets.state_dir(self.device) / "system-view")
        # The pinned counting QEMU (edgebench.ncnn_tools.qemu_build), so every count runs on the same emulator.
        emulator = resolve_emulator_argv(self.device.emulator.argv)
        return Launcher(view_prefix=tuple(view_prefix(folder)), emulator=tuple(emulator), view=view)

    def endpoint(self, start: bool = True) -> Endpoint:
        return targets.endpoint_for(self.device, start_target=start)

    def open(self) -> BoardLink:
        transport, endpoint = targets.connect(self.device)
        return BoardLink(transport, endpoint.workdir)

    def reachability(self, timeout_s: float) -> Reachability:
        from edgebench.ncnn_tools.qemu_build import EMULATORS, missing_counting_qemu

        status = targets.target_status(self.device)
        if status.up:
            return Reachability("up", f"127.0.0.1:{status.port}")
        exe = self.device.emulator.argv[0]
        missing = missing_counting_qemu(exe) if exe in EMULATORS else (
            None if shutil.which(exe) else f"{exe} not found")
        return Reachability("down", f"edgebench target up {self.device.name}" + (f"; {missing}" if missing else ""))

    def counter(self, runtimes: Runtimes) -> Counter:
        device = self.device
        if device.cache is None:
            raise EdgebenchError(f"device {device.name} declares no cache geometry for the counters' cache model",
                                 hint=f"add cache: l1i/l1d/l2 to its entry in {device.source}, or pass --no-counters")
        return Counter(runtimes.plugin(device.emulator.argv[0]), device.cache)

    def state_before(self, transport: Transport) -> BoardState:
        return emulated_state(transport, self.device, self.launcher)

    def state_after(self, transport: Transport, before: BoardState) -> BoardState:
        return before  # the host's clock and temperature after say nothing about the emulated CPU
