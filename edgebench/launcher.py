"""How a program is started as the board's CPU: as it is on a real board; on an emulated one inside the
board's own system view (edgebench.sysview) and behind the emulator, so every input the guest can read is
part of the board and none comes from the host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from edgebench.devices import Device
from edgebench.ncnn_tools.qemu_build import resolve_emulator_argv
from edgebench.sysview import SystemView, board_view, materialize, require_namespace_support, view_prefix


@dataclass(frozen=True)
class Launcher:
    view_prefix: tuple[str, ...] = ()  # the private mount namespace holding the board's view
    emulator: tuple[str, ...] = ()  # e.g. qemu-arm -cpu cortex-a9; empty on a real board
    view: SystemView | None = None

    def argv(self, program: Sequence[str], emulator_options: Sequence[str] = ()) -> list[str]:
        """`program` as the board runs it; `emulator_options` (a QEMU -plugin argument) go before the program."""
        if emulator_options and not self.emulator:
            raise ValueError("emulator options given for a program that runs natively")
        return [*self.view_prefix, *self.emulator, *emulator_options, *program]


def launcher_for(device: Device) -> Launcher:
    """The launcher of `device`; for an emulated one its view is (re)written under the target's state folder."""
    if device.emulator is None:
        return Launcher()
    from edgebench.targets import state_dir

    require_namespace_support()
    view = board_view(device)
    folder = materialize(view, state_dir(device) / "system-view")
    # The pinned counting QEMU (edgebench.ncnn_tools.qemu_build), so every count runs on the same emulator.
    emulator = resolve_emulator_argv(device.emulator.argv)
    return Launcher(view_prefix=tuple(view_prefix(folder)), emulator=tuple(emulator), view=view)
