"""A full-system emulated board: a real ARM Linux (edgebench.boards.system_image) booted under qemu-system, its
SSH server forwarded to 127.0.0.1 only, and from then on reached exactly like a real board: the same
transport, deploy, lock and state probe (the guest's own /proc and /sys), programs run natively in the guest.

`edgebench target up imx6q-sys` boots the machine (daemonized QEMU, user networking with one hostfwd) and
waits for SSH; `target down` powers the guest off and then ends QEMU. The machine's state lives in the
target's state folder (edgebench.boards.targets.state_dir): machine.json (QEMU's pid, the port, the image),
console.log (the guest's serial console) and known_hosts (the image's host key, pinned for that port).

Timings here are TCG's: the wall time of a run is how fast this host emulates the board, never the board's
latency, and the state says so (emulated, with the QEMU command line).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable

from edgebench.atomic import write_atomically
from edgebench.boards.board import BoardLink, Counter, Endpoint, Reachability, TargetStatus
from edgebench.boards.devices import Connection, Device
from edgebench.boards.launcher import Launcher
from edgebench.boards.real import DEFAULT_REMOTE_WORKDIR
from edgebench.boards.sshd import free_port
from edgebench.boards.state import measured_state_after, measured_state_before
from edgebench.boards.system_image import SystemImage, build_image, recipe
from edgebench.boards.targets import lifecycle_lock, state_dir
from edgebench.boards.ssh import SSHTransport, known_hosts_name
from edgebench.boards.transport import ConnectError, Transport
from edgebench.errors import EdgebenchError
from edgebench.results.result import BoardState

BOOT_TIMEOUT_S = 300.0  # TCG on a busy 2-core host: the kernel alone takes ~25 s, SSH follows ~15 s later
HALT_TIMEOUT_S = 30.0
BANNER_TIMEOUT_S = 5.0
# What the guest kernel prints when it stops: after poweroff (sabrelite has no power-off hook, so it halts)
# and when it dies.
_HALTED = ("reboot: System halted", "reboot: Power down")
_PANIC = "Kernel panic"
_CRASH_MARKS = (_PANIC, "Internal error:", "Unable to handle kernel", "BUG:", "Oops")


class Health(enum.Enum):
    UP = "up"
    DOWN = "down"
    BOOTING = "booting"  # QEMU runs, no SSH login yet, still within the boot timeout
    CRASHED = "crashed"  # the guest kernel panicked (its console says so), or QEMU exited on its own
    HUNG = "hung"  # QEMU runs but the guest's SSH server sends no banner


@dataclass(frozen=True)
class Machine:
    """A booted machine, as machine.json records it."""

    pid: int
    port: int
    image: str  # the image folder
    host_key: str
    argv: list[str]
    started: float  # time.time() at launch
    ssh_after_s: float | None = None  # launch to the first SSH login


@dataclass(frozen=True)
class MachineStatus:
    health: Health
    machine: Machine | None
    detail: str


def _files(device: Device) -> dict[str, Path]:
    folder = state_dir(device)
    return {"state": folder / "machine.json", "console": folder / "console.log", "pid": folder / "qemu.pid",
            "known_hosts": folder / "known_hosts"}


def _recorded(device: Device) -> Machine | None:
    try:
        return Machine(**json.loads(_files(device)["state"].read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _qemu_alive(machine: Machine, device: Device) -> bool:
    """The recorded pid is still this machine's QEMU (its command line names the state folder)."""
    try:
        stat = Path(f"/proc/{machine.pid}/stat").read_text()
        cmdline = Path(f"/proc/{machine.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and str(state_dir(device)).encode() in cmdline


def _banner(port: int, timeout_s: float) -> bool:
    """The guest's SSH server answers: user networking accepts every connection on the host side, so only
    the server's banner says the guest is alive."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def console_problem(console: Path) -> str | None:
    """The guest kernel's own words for how it died, from its console log."""
    try:
        lines = console.read_text(errors="replace").splitlines()
    except OSError:
        return None
    hits = [line.strip() for line in lines if any(mark in line for mark in _CRASH_MARKS)]
    return hits[0] if hits else None


def _console_tail(console: Path) -> str:
    try:
        lines = [line.strip() for line in console.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no console output"
    return lines[-1] if lines else "no console output"


def machine_status(device: Device) -> MachineStatus:
    machine = _recorded(device)
    console = _files(device)["console"]
    if machine is None:
        return MachineStatus(Health.DOWN, None, f"edgebench target up {device.name}")
    why = console_problem(console)
    if not _qemu_alive(machine, device):
        why = why or f"qemu exited; the console's last line: {_console_tail(console)}"
        return MachineStatus(Health.CRASHED, machine, f"crashed: {why} (console: {console})")
    if why is not None and _PANIC in why:  # sabrelite cannot reset under QEMU: a panicked kernel just halts
        return MachineStatus(Health.CRASHED, machine, f"crashed: {why} (qemu pid {machine.pid} still runs; "
                                                      f"console: {console})")
    if not _banner(machine.port, BANNER_TIMEOUT_S):
        since = time.time() - machine.started
        if machine.ssh_after_s is None and since < BOOT_TIMEOUT_S:
            return MachineStatus(Health.BOOTING, machine, f"booting: qemu (pid {machine.pid}) started {since:.0f} s "
                                                          f"ago, no SSH yet (console: {console})")
        return MachineStatus(Health.HUNG, machine,
                             f"hung: qemu (pid {machine.pid}) runs but the guest's SSH server did not answer within "
                             f"{BANNER_TIMEOUT_S:g} s{'; ' + why if why else ''} (console: {console})")
    return MachineStatus(Health.UP, machine, f"127.0.0.1:{machine.port}")


def machine_argv(device: Device, image: SystemImage, port: int) -> list[str]:
    r = recipe(image.name)
    files = _files(device)
    serials = [arg for i in range(r.console_serial + 1)
               for arg in ("-serial", f"file:{files['console']}" if i == r.console_serial else "null")]
    return [*r.machine, "-smp", str(device.cores), "-m", f"{device.system.memory_mib}M",
            "-kernel", str(image.kernel), "-dtb", str(image.dtb), "-initrd", str(image.initramfs),
            # A panic is read from the console: QEMU 7.2 cannot reset a sabrelite, so panic=1's reboot halts.
            # -no-reboot ends QEMU should a guest ever reset, so a rebooted board never passes for the booted one.
            "-append", f"console={r.console} panic=1", "-no-reboot",
            "-display", "none", "-monitor", "none", *serials,
            *(arg.format(port=port) for arg in r.nic),
            "-daemonize", "-pidfile", str(files["pid"])]


def _connection(device: Device, machine: Machine) -> Connection:
    # ssh_config "none": a user's `Host *` settings (a ProxyJump, say) must not apply to 127.0.0.1.
    return Connection(host="127.0.0.1", port=machine.port, user="root",
                      identity_file=str(Path(machine.image) / "client_ed25519"),
                      known_hosts=str(_files(device)["known_hosts"]), ssh_config="none", connect_timeout_s=10.0)


def _launch(device: Device, image: SystemImage) -> Machine:
    """Start QEMU daemonized on a free port (QEMU reports a port lost to a race before it detaches)."""
    files = _files(device)
    for attempt in range(3):
        port = free_port()
        argv = machine_argv(device, image, port)
        files["console"].unlink(missing_ok=True)
        files["pid"].unlink(missing_ok=True)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise EdgebenchError(f"{argv[0]} not found: {device.name} boots under it",
                                 hint="sudo apt-get install qemu-system-arm") from None
        if done.returncode == 0:
            machine = Machine(pid=int(files["pid"].read_text().strip()), port=port, image=str(image.folder),
                              host_key=image.host_key, argv=argv, started=time.time())
            write_atomically(files["known_hosts"], f"{known_hosts_name('127.0.0.1', port)} {image.host_key}\n",
                             mode=0o600)
            _record(device, machine)
            return machine
        # QEMU 7.2: "Could not set up host forwarding rule ..." when the port was taken since free_port()
        if "forwarding rule" not in done.stderr or attempt == 2:
            raise EdgebenchError(f"{argv[0]} did not start {device.name}: {done.stderr.strip()[-300:]}")
    raise AssertionError("unreachable")


def _record(device: Device, machine: Machine) -> None:
    write_atomically(_files(device)["state"], json.dumps(dataclasses.asdict(machine)) + "\n")


def _wait_for_ssh(device: Device, machine: Machine, timeout_s: float) -> Machine:
    deadline = time.monotonic() + timeout_s
    connection = _connection(device, machine)
    while time.monotonic() < deadline:
        if not _qemu_alive(machine, device):
            status = machine_status(device)
            raise EdgebenchError(f"{device.name} {status.detail}", hint=f"edgebench target down {device.name}")
        if _banner(machine.port, BANNER_TIMEOUT_S):
            try:
                SSHTransport.connect(connection, name=device.name).close()
            except ConnectError:
                pass
            else:
                booted = dataclasses.replace(machine, ssh_after_s=round(time.time() - machine.started, 1))
                _record(device, booted)
                return booted
        time.sleep(1.0)
    console = _files(device)["console"]
    _terminate(machine, device)
    _files(device)["state"].unlink(missing_ok=True)  # ended here: nothing is left to name as crashed
    raise EdgebenchError(f"{device.name} hung: no SSH login within {timeout_s:g} s of booting; the console's last "
                         f"line: {_console_tail(console)}", hint=f"the whole console: {console}")


def boot(device: Device, say: Callable[[str], None] = lambda _: None,
         timeout_s: float = BOOT_TIMEOUT_S) -> MachineStatus:
    """Boot the board and wait for its SSH login (a no-op when it is up). A crashed or hung machine is named,
    not rebooted behind the user's back."""
    with lifecycle_lock(device):
        status = machine_status(device)
        if status.health is Health.UP:
            return status
        if status.health in (Health.CRASHED, Health.HUNG):
            raise EdgebenchError(f"{device.name} {status.detail}",
                                 hint=f"edgebench target down {device.name}, then up again")
        if status.health is Health.BOOTING:  # an `up` that was interrupted: its machine is waited for
            machine = status.machine
            timeout_s = max(1.0, machine.started + timeout_s - time.time())
            say(f"waiting for {device.name} to finish booting (qemu pid {machine.pid})")
        else:
            image, _ = build_image(device.system.image, say=say)  # the cached one, unless a package changed
            machine_name = " ".join(recipe(image.name).machine)
            say(f"booting {device.name}: {machine_name} -smp {device.cores} (TCG: up to a minute to SSH)")
            machine = _launch(device, image)
        machine = _wait_for_ssh(device, machine, timeout_s)
        return MachineStatus(Health.UP, machine, f"127.0.0.1:{machine.port}")


def _terminate(machine: Machine, device: Device) -> None:
    """End QEMU: SIGTERM (QEMU exits cleanly on it), SIGKILL when it does not."""
    if not _qemu_alive(machine, device):
        return
    os.kill(machine.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while _qemu_alive(machine, device):
        if time.monotonic() > deadline:
            os.kill(machine.pid, signal.SIGKILL)
            deadline += 10.0
        time.sleep(0.1)


class Shutdown(enum.Enum):
    NOT_RUNNING = "was not running"
    POWERED_OFF = "powered off"  # the guest halted on its own poweroff, then QEMU was ended
    FORCED = "stopped without a clean poweroff"  # the guest did not answer or halt: QEMU was ended
    CLEARED = "was not running (its crash record is cleared)"


def shutdown(device: Device) -> Shutdown:
    """Power the guest off (it syncs nothing: its root is the initramfs) and end QEMU."""
    with lifecycle_lock(device):
        machine = _recorded(device)
        if machine is None:
            return Shutdown.NOT_RUNNING
        result = Shutdown.CLEARED
        if _qemu_alive(machine, device):
            # only a guest that answers can power itself off; a crashed or hung one is ended at once
            up = machine_status(device).health is Health.UP
            result = Shutdown.POWERED_OFF if up and _poweroff(device, machine) else Shutdown.FORCED
            _terminate(machine, device)
        _files(device)["state"].unlink(missing_ok=True)
        return result


def _poweroff(device: Device, machine: Machine) -> bool:
    """Ask the guest to power off and wait for its kernel's last words; False when it never got there."""
    try:
        transport = SSHTransport.connect(dataclasses.replace(_connection(device, machine), connect_timeout_s=5.0),
                                         name=device.name)
    except EdgebenchError:  # no login after all (it stopped answering, or its image is gone)
        return False
    with transport:
        try:
            transport.run(["poweroff"], timeout=10)
        except EdgebenchError:  # the connection may drop as the guest goes down
            pass
    deadline = time.monotonic() + HALT_TIMEOUT_S
    console = _files(device)["console"]
    while time.monotonic() < deadline:
        try:
            if any(mark in console.read_text(errors="replace") for mark in _HALTED):
                return True
        except OSError:
            return False
        time.sleep(0.2)
    return False


def target_status(device: Device) -> TargetStatus:
    status = machine_status(device)
    m = status.machine
    up = status.health is Health.UP
    return TargetStatus(name=device.name, up=up, pid=m.pid if up else None, port=m.port if up else None,
                        state_dir=str(state_dir(device)), workdir=_workdir(device),
                        emulator=" ".join(m.argv[:5]) if m else " ".join(recipe(device.system.image).machine),
                        problem=None if up or status.health is Health.DOWN else status.detail)


def _workdir(device: Device) -> str:
    return device.workdir or DEFAULT_REMOTE_WORKDIR


@cache
def _qemu_version(exe: str) -> str | None:
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True)
    except OSError:
        return None
    return (done.stdout.splitlines() or [None])[0]


@dataclass(frozen=True)
class MachineLifecycle:
    """A full-system board boots and powers off."""

    device: Device

    def up(self) -> TargetStatus:
        boot(self.device, say=say)
        return target_status(self.device)

    def down(self) -> bool:
        return shutdown_and_say(self.device)

    def status(self) -> TargetStatus:
        return target_status(self.device)


class SystemBoard:
    kind = "system"
    counts = False  # TCG runs the guest's own kernel: no per-instruction plugin here
    pins_cpus = True  # the guest's kernel schedules the runner on its own (emulated) cores

    def __init__(self, device: Device):
        self.device = device
        self.lifecycle = MachineLifecycle(device)

    @property
    def launcher(self) -> Launcher:
        return Launcher()  # the runner runs natively inside the guest

    def endpoint(self, start: bool = True) -> Endpoint:
        device = self.device
        status = boot(device, say=say) if start else machine_status(device)
        if status.health is not Health.UP:
            raise EdgebenchError(f"{device.name} is {status.detail}" if status.health is Health.DOWN
                                 else f"{device.name} {status.detail}", hint=f"edgebench target up {device.name}")
        return Endpoint(connection=_connection(device, status.machine), workdir=_workdir(device))

    def open(self) -> BoardLink:
        endpoint = self.endpoint()
        return BoardLink(SSHTransport.connect(endpoint.connection, name=self.device.name), endpoint.workdir)

    def reachability(self, timeout_s: float) -> Reachability:
        status = machine_status(self.device)
        if status.health is Health.UP:
            return Reachability("up", f"{status.detail} (qemu pid {status.machine.pid})")
        if status.health in (Health.DOWN, Health.BOOTING):
            return Reachability("down", status.detail)
        return Reachability("down", status.detail, problem=status.health.value,
                            hint=f"edgebench target down {self.device.name}, then up again")

    def counter(self, runtimes) -> Counter | None:
        return None

    def state_before(self, transport: Transport) -> BoardState:
        machine = _recorded(self.device)
        emulator = " ".join(machine.argv[:7]) + " (TCG)" if machine else None
        state = measured_state_before(transport, self.device)
        return dataclasses.replace(state, emulated=True, emulator=emulator,
                                   emulator_version=_qemu_version(machine.argv[0]) if machine else None)

    def state_after(self, transport: Transport, before: BoardState) -> BoardState:
        return measured_state_after(transport, self.device, before)


def say(line: str) -> None:
    """A progress line on stderr (booting and building take long enough to need one)."""
    from edgebench.console import err

    err.print(line)


def shutdown_and_say(device: Device) -> bool:
    """`target down`: shut down; a guest that would not power off is said so. False when nothing ran."""
    result = shutdown(device)
    if result is Shutdown.FORCED:
        say(f"{device.name}: the guest did not power off (crashed, hung, or no halt within {HALT_TIMEOUT_S:g} s); "
            f"QEMU was ended")
    return result in (Shutdown.POWERED_OFF, Shutdown.FORCED)
