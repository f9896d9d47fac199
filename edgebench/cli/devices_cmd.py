"""`edgebench devices` (the inventory, host-key trust) and `edgebench target` (emulated boards' SSH servers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from edgebench.boards.board import board_for
from edgebench.boards.devices import Device, get_device, load_devices
from edgebench.cli import main
from edgebench.cli.options import DEVICES_OPTION
from edgebench.console import err, out, print_json, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.report.layout import Column, Row, print_table
from edgebench.serde import to_dict

if TYPE_CHECKING:
    from edgebench.boards.board import Lifecycle, TargetStatus
    from edgebench.modeling.latency_model import CpuConstants

# edgebench.boards.targets and .ssh load paramiko: imported where a command reaches a board, not for --help.


@dataclass(frozen=True)
class InventoryRow:
    name: str
    arch: str
    cpu: str
    cores: int
    clock_mhz: int
    kind: str  # "emulated" | "real" | "labgrid"
    status: str  # emulated: "up" | "down"; real and labgrid: "reachable" | "unreachable"
    detail: str  # why unreachable, or where the target listens
    source: str
    problem: str | None = None  # unreachable: transport.ConnectProblem's word for why (refused, timed out, ...)
    hint: str | None = None  # unreachable: what to check
    modeled: bool | None = None  # a board that counts: whether installed constants model it (None: it times)
    unmodeled: str | None = None  # why a counting board is not modeled


def _probe(device: Device, timeout_s: float, constants: dict[str, CpuConstants]) -> InventoryRow:
    from edgebench.modeling.latency_model import unmodeled_reason

    board = board_for(device)
    seen = board.reachability(timeout_s)
    unmodeled = unmodeled_reason(device, constants) if board.counts else None
    return InventoryRow(name=device.name, arch=device.arch, cpu=device.cpu, cores=device.cores,
                        clock_mhz=device.clock_mhz, kind=board.kind, status=seen.status, detail=seen.detail,
                        source=str(device.source), problem=seen.problem, hint=seen.hint,
                        modeled=(unmodeled is None) if board.counts else None, unmodeled=unmodeled)


@main.group("devices", invoke_without_command=True)
@DEVICES_OPTION
@click.option("--timeout", type=float, default=3.0, show_default=True,
              help="Seconds to wait for each real board's SSH login.")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory as JSON on stdout.")
@click.pass_context
def devices_cmd(ctx: click.Context, devices_file, timeout, as_json):
    """The device inventory: arch, CPU, clock, emulated or real, and whether each one answers now.

    Real boards get a quick SSH login (strict host keys); emulated targets report whether their SSH server
    is up.

    \b
    Examples:
      edgebench devices
      edgebench devices --json
      edgebench devices --devices lab.yaml --timeout 1
      edgebench devices trust my-pi4     # a real board: devices.yaml's my-pi4 example, once added
    """
    ctx.ensure_object(dict)["devices_file"] = devices_file
    if ctx.invoked_subcommand is not None:
        return
    devices = list(load_devices(devices_file).values())
    with ThreadPoolExecutor(max_workers=8) as pool:
        from edgebench.modeling.latency_model import load_constants

        constants = load_constants()
        rows = list(pool.map(lambda d: _probe(d, timeout, constants), devices))
    if as_json:
        print_json([to_dict(r) for r in rows])
        return
    columns = (Column("name"), Column("arch", 2), Column("cpu"), Column("cores", 3, numeric=True),
               Column("clock", 1, numeric=True), Column("kind", 2), Column("modeled", 3), Column("status"))
    colour = {"up": "green", "reachable": "green", "down": "yellow", "unreachable": "red"}
    # where a target listens, why a board is unreachable and what to check: under the row, however long
    modeled = {True: "yes", False: "no", None: "–"}
    table_rows = [Row((r.name, r.arch, r.cpu, str(r.cores), f"{r.clock_mhz} MHz", r.kind, modeled[r.modeled],
                       f"{r.status} ({r.problem})" if r.problem else r.status),
                      (r.detail, *([r.unmodeled] if r.unmodeled else ()), *([f"hint: {r.hint}"] if r.hint else ())),
                      note_style=colour[r.status])
                  for r in rows]
    console = stdout_console()
    print_table(console, columns, table_rows, title="Devices", wide=not console.is_terminal,
                wide_hint="a wider terminal shows every column")


@devices_cmd.command("trust")
@click.argument("name")
@DEVICES_OPTION
@click.option("--replace", is_flag=True, help="Replace a pinned key that no longer matches (board reinstalled).")
@click.option("--json", "as_json", is_flag=True, help="Print the pinned key as JSON on stdout.")
@click.pass_context
def trust_cmd(ctx: click.Context, name, devices_file, replace, as_json):
    """Fetch a device's SSH host key, show its fingerprint and pin it in the device's known_hosts.

    Compare the fingerprint with the one on the board (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`)
    before trusting it over an untrusted network.

    \b
    Examples:
      edgebench devices trust my-pi4
      edgebench devices trust my-pi4 --replace
    """
    from edgebench.boards.ssh import fetch_host_key, fingerprint, pin_host_key, pinned_keys

    device = get_device(name, devices_file or ctx.obj.get("devices_file"))
    connection = board_for(device).endpoint(start=False).connection
    resolved, key = fetch_host_key(connection, name=device.name)
    pinned = pinned_keys(resolved.known_hosts, resolved.hostname, resolved.port)
    same = any(k.asbytes() == key.asbytes() for k in pinned)
    if pinned and not same and not replace:
        old = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in pinned)
        raise EdgebenchError(f"{name}: {resolved.known_hosts} already pins {old} for {resolved.known_hosts_name}, "
                             f"but the server now presents {key.get_name()} {fingerprint(key)}",
                             hint=f"if the board was reinstalled: edgebench devices trust {name} --replace")
    if not same:
        pin_host_key(resolved.known_hosts, resolved.hostname, resolved.port, key, replace=replace)
    info = {"device": name, "host": resolved.known_hosts_name, "key_type": key.get_name(),
            "fingerprint": fingerprint(key), "known_hosts": resolved.known_hosts, "already_pinned": same}
    if as_json:
        print_json(info)
    else:
        verb = "already trusted" if same else "trusted"
        out.print(f"{name} ({resolved.known_hosts_name}): {key.get_name()} {fingerprint(key)} {verb}; "
                  f"pinned in {resolved.known_hosts}")


@main.group("target")
def target_cmd():
    """Emulated targets: a private OpenSSH server on 127.0.0.1 per emulated device (QEMU runs go over SSH),
    or a whole ARM Linux machine under qemu-system (system: entries), reached like a real board.

    \b
    Examples:
      edgebench target up imx6
      edgebench target status imx6 --json
      edgebench target down imx6
      edgebench target image imx6q       # the bootable image of imx6q-sys
      edgebench target up imx6q-sys
    """


def _lifecycle(device: Device) -> Lifecycle:
    """The board's up/down/status; a board edgebench does not start (hardware, a lab's place) is one line."""
    board = board_for(device)
    if board.lifecycle is None:
        raise EdgebenchError(f"device {device.name!r} is a {board.kind} board, not an emulated target",
                             hint="`edgebench target` manages emulated devices (an emulator: or system: entry)")
    return board.lifecycle


def _print_status(st: TargetStatus, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(st))
    elif st.up:
        out.print(f"{st.name}: [green]up[/] on 127.0.0.1:{st.port} (pid {st.pid}), runs programs through "
                  f"`{st.emulator}`, workdir {st.workdir}")
    elif st.problem:
        out.print(f"{st.name}: [red]{st.problem}[/]")
    else:
        out.print(f"{st.name}: [yellow]down[/] (state in {st.state_dir})")


@target_cmd.command("up")
@click.argument("name")
@DEVICES_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the target's status as JSON on stdout.")
def target_up_cmd(name, devices_file, as_json):
    """Start an emulated target's SSH server (keys generated on first use; a no-op when it is already up).

    \b
    Example:
      edgebench target up imx6
    """
    _print_status(_lifecycle(get_device(name, devices_file)).up(), as_json)


@target_cmd.command("image")
@click.argument("image")
@click.option("--refresh", is_flag=True, help="Fetch the Debian package lists again first (newer versions rebuild).")
@click.option("--json", "as_json", is_flag=True, help="Print the image as JSON on stdout.")
def target_image_cmd(image, refresh, as_json):
    """Build (or find cached) the bootable image of a full-system board from Debian packages only.

    The image is cached by the packages' versions: it is rebuilt only when one of them changes.

    \b
    Examples:
      edgebench target image imx6q
      edgebench target image imx6q --refresh --json
    """
    from edgebench.boards.system_image import build_image

    built, fresh = build_image(image, refresh=refresh, say=err.print)
    if as_json:
        print_json({**to_dict(built), "folder": str(built.folder), "built_now": fresh})
        return
    what = f"built in {built.build_seconds:g} s" if fresh else f"cached (built in {built.build_seconds:g} s)"
    out.print(f"{built.name}: {what}; kernel {built.kernel_release}, {len(built.packages)} Debian packages; "
              f"{built.folder}")


@target_cmd.command("down")
@click.argument("name")
@DEVICES_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def target_down_cmd(name, devices_file, as_json):
    """Stop an emulated target's SSH server (its keys and workdir stay for the next `up`).

    \b
    Example:
      edgebench target down imx6
    """
    was_up = _lifecycle(get_device(name, devices_file)).down()
    if as_json:
        print_json({"name": name, "stopped": was_up})
    else:
        err.print(f"{name}: stopped" if was_up else f"{name}: was not running")


@target_cmd.command("status")
@click.argument("name", required=False)
@DEVICES_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
def target_status_cmd(name, devices_file, as_json):
    """Whether an emulated target (or, without NAME, every emulated device) is up, and where.

    \b
    Examples:
      edgebench target status imx6
      edgebench target status --json
    """
    if name:
        _print_status(_lifecycle(get_device(name, devices_file)).status(), as_json)
        return
    boards = (board_for(d) for d in load_devices(devices_file).values())
    statuses = [b.lifecycle.status() for b in boards if b.lifecycle is not None]
    if as_json:
        print_json([to_dict(s) for s in statuses])
    else:
        for st in statuses:
            _print_status(st, False)
