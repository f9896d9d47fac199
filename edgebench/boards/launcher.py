"""How a program is started as the board's CPU: as it is on a real board; on an emulated one inside the
board's own system view (edgebench.boards.sysview) and behind the emulator, so every input the guest can read is
part of the board and none comes from the host. Each Board makes its own (edgebench.boards)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from edgebench.boards.sysview import SystemView


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
