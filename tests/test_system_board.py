"""Full-system emulated boards: the image built from Debian packages, the machine booted under qemu-system-arm
and reached like a real board.

The fast tests read what the lifecycle writes and decides (the initramfs archive, the QEMU command line, a
crashed or hung machine named from a real dead process or a real silent port). The slow ones build (or take
from EDGEBENCH_TEST_CACHE) the real images, boot them, run a model over SSH (the i.MX 6 Quad at 1, 2 and 4
threads, the Pi 3 at 2) and power the guest off: nothing is stood in for.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench.boards import system_board, targets
from edgebench.boards.board import board_for
from edgebench.boards.cpio import DeviceNode, write_initramfs
from edgebench.boards.debian_archive import Package
from edgebench.boards.devices import get_device, parse_devices_file
from edgebench.boards.system_board import Health, Machine, machine_status
from edgebench.boards.system_image import RECIPES, SystemImage, image_key, recipe
from edgebench.errors import EdgebenchError


@pytest.fixture
def imx6q_sys(edgebench_dirs, monkeypatch):
    monkeypatch.chdir(edgebench_dirs)
    return get_device("imx6q-sys")


# -- the inventory ----------------------------------------------------------------------------------------
def test_packaged_imx6q_sys_is_a_system_board_reached_like_hardware(imx6q_sys):
    board = board_for(imx6q_sys)
    assert board.kind == "system" and imx6q_sys.system.image in RECIPES and imx6q_sys.cores == 4
    assert board.launcher.argv(["./edgebench-runner"]) == ["./edgebench-runner"]  # no emulator on the path
    assert board.pins_cpus and not board.counts and not imx6q_sys.emulated
    assert board.lifecycle is not None  # `edgebench target up/down/status` manage it


@pytest.mark.parametrize("extra, problem", [
    ("  emulator: [qemu-arm, -cpu, cortex-a9]\n", "neither qemu-user"),
    ("  connection: {host: 10.0.0.2}\n", "drop connection"),
    ("  system: {image: imx6q, disk: 4}\n", "unknown field"),
])
def test_system_entry_errors_name_the_field(tmp_path, extra, problem):
    text = "b:\n  arch: armv7\n  cpu: cortex-a9\n  cores: 4\n  clock_mhz: 996\n"
    text += extra if extra.startswith("  system") else "  system: {image: imx6q}\n" + extra
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(EdgebenchError, match=problem):
        parse_devices_file(path)


def test_unknown_image_names_the_known_ones():
    with pytest.raises(EdgebenchError, match="known: imx6q"):
        recipe("pdp11")


# -- the image ----------------------------------------------------------------------------------------------
def test_image_key_follows_every_package_version():
    r = recipe("imx6q")
    packages = [Package("busybox-static", "1:1.35.0-4", ""), Package("dropbear-bin", "2022.83-1", "")]
    bumped = [packages[0], Package("dropbear-bin", "2022.83-1+deb12u1", "")]
    assert image_key(r, packages) == image_key(r, list(packages))
    assert image_key(r, packages) != image_key(r, bumped)


def _read_newc(path: Path) -> dict[str, tuple[int, int, int, bytes, tuple[int, int]]]:
    """name -> (mode, uid, gid, data, rdev): the newc layout as the kernel's init/initramfs.c reads it."""
    blob, entries, pos = gzip.decompress(path.read_bytes()), {}, 0
    while True:
        assert blob[pos:pos + 6] == b"070701"
        f = [int(blob[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        name_end = pos + 110 + f[11]
        name = blob[pos + 110:name_end - 1].decode()
        data_start = name_end + (-name_end % 4)
        data = blob[data_start:data_start + f[6]]
        pos = data_start + f[6] + (-(data_start + f[6]) % 4)
        if name == "TRAILER!!!":
            return entries
        entries[name] = (f[1], f[2], f[3], data, (f[9], f[10]))


def test_a_new_image_supersedes_all_but_the_one_before_it(edgebench_dirs):
    from edgebench.boards.system_image import images_dir, superseded

    folders = []
    for i, key in enumerate(("old", "older-still", "previous", "new")):
        folder = images_dir() / f"imx6q-{key}"
        folder.mkdir(parents=True)
        (folder / "image.json").write_text("{}")
        os.utime(folder / "image.json", (1000 + i, 1000 + i))
        folders.append(folder)
    (images_dir() / "imx6q-half-built").mkdir()  # no image.json: another build's, left alone
    (images_dir() / "rpi3-x").mkdir()
    (images_dir() / "rpi3-x" / "image.json").write_text("{}")  # another image's
    assert superseded("imx6q", folders[-1]) == [folders[1], folders[0]]  # "previous" stays for a running machine


def test_initramfs_is_root_owned_with_the_modes_sshd_insists_on(tmp_path):
    tree = tmp_path / "tree"
    (tree / "root" / ".ssh").mkdir(parents=True)
    (tree / "root" / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA\n")
    os.chmod(tree / "root", 0o777)  # the tree's own modes are whatever the builder's umask gave
    (tree / "bin").mkdir()
    (tree / "bin" / "sh").symlink_to("busybox")
    out = tmp_path / "initramfs.cpio.gz"
    write_initramfs(tree, out, modes={"root": 0o700, "root/.ssh/authorized_keys": 0o600},
                    nodes=(DeviceNode("dev/console", 5, 1),))
    entries = _read_newc(out)
    assert all(uid == 0 and gid == 0 for _, uid, gid, _, _ in entries.values())
    assert entries["root"][0] == stat.S_IFDIR | 0o700
    assert entries["root/.ssh/authorized_keys"][0] == stat.S_IFREG | 0o600
    assert entries["root/.ssh/authorized_keys"][3] == b"ssh-ed25519 AAAA\n"
    assert entries["bin/sh"][0] == stat.S_IFLNK | 0o777 and entries["bin/sh"][3] == b"busybox"
    assert entries["dev/console"][0] == stat.S_IFCHR | 0o600 and entries["dev/console"][4] == (5, 1)
    write_initramfs(tree, tmp_path / "again.cpio.gz", modes={"root": 0o700, "root/.ssh/authorized_keys": 0o600},
                    nodes=(DeviceNode("dev/console", 5, 1),))
    assert (tmp_path / "again.cpio.gz").read_bytes() == out.read_bytes()  # same tree, same bytes


# -- the machine ----------------------------------------------------------------------------------------------
def _image(tmp_path: Path) -> SystemImage:
    return SystemImage(name="imx6q", folder=tmp_path / "img", key="k", kernel_release="6.1.0-57-armmp",
                       packages={}, build_seconds=1.0, host_key="ssh-ed25519 AAAA")


def test_qemu_command_forwards_ssh_on_loopback_only_and_logs_the_console(imx6q_sys, tmp_path):
    argv = system_board.machine_argv(imx6q_sys, _image(tmp_path), 40022)
    assert argv[:3] == ["qemu-system-arm", "-M", "sabrelite"]
    assert argv[argv.index("-smp") + 1] == "4" and argv[argv.index("-m") + 1] == "1024M"
    assert argv[argv.index("-nic") + 1] == "user,hostfwd=tcp:127.0.0.1:40022-:22"
    serials = [argv[i + 1] for i, a in enumerate(argv) if a == "-serial"]
    assert serials[0] == "null" and serials[1].endswith("console.log")  # sabrelite's console is UART2
    assert "-no-reboot" in argv and "panic=1" in argv[argv.index("-append") + 1]


def test_the_pi_is_networked_by_a_usb_nic_and_logs_its_first_uart(edgebench_dirs, monkeypatch, tmp_path):
    monkeypatch.chdir(edgebench_dirs)
    device = get_device("rpi3-sys")
    image = SystemImage(name="rpi3", folder=tmp_path / "img", key="k", kernel_release="6.1.0-57-arm64",
                        packages={}, build_seconds=1.0, host_key="ssh-ed25519 AAAA")
    argv = system_board.machine_argv(device, image, 40023)
    assert argv[:3] == ["qemu-system-aarch64", "-M", "raspi3b"] and argv[argv.index("-m") + 1] == "1024M"
    assert argv[argv.index("-netdev") + 1] == "user,id=net0,hostfwd=tcp:127.0.0.1:40023-:22"
    assert argv[argv.index("-device") + 1] == "usb-net,netdev=net0" and "-nic" not in argv
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-serial"][0].endswith("console.log")
    assert argv[argv.index("-dtb") + 1] == str(tmp_path / "img" / "bcm2837-rpi-3-b.dtb")


def _record(device, pid: int, port: int, ssh_after_s: float | None = 30.0) -> None:
    folder = targets.state_dir(device)
    folder.mkdir(parents=True, exist_ok=True)
    machine = Machine(pid=pid, port=port, image="/nonexistent", host_key="ssh-ed25519 AAAA", argv=["qemu"],
                      started=time.time(), ssh_after_s=ssh_after_s)
    (folder / "machine.json").write_text(json.dumps(machine.__dict__))


def test_status_names_down_crashed_booting_and_hung(imx6q_sys, monkeypatch):
    monkeypatch.setattr(system_board, "BANNER_TIMEOUT_S", 0.5)  # how long a silent port is waited for
    assert machine_status(imx6q_sys).health is Health.DOWN

    # crashed: the recorded QEMU is gone; the kernel's own last words are the reason
    dead = subprocess.Popen(["true"])
    dead.wait()
    _record(imx6q_sys, dead.pid, 1)
    (targets.state_dir(imx6q_sys) / "console.log").write_text(
        "[ 3.1] Run /init as init process\n[ 3.2] Kernel panic - not syncing: Attempted to kill init!\n")
    status = machine_status(imx6q_sys)
    assert status.health is Health.CRASHED and "Kernel panic - not syncing" in status.detail
    assert board_for(imx6q_sys).reachability(1.0).problem == "crashed"
    with pytest.raises(EdgebenchError, match="crashed"):
        system_board.boot(imx6q_sys)  # named, never silently rebooted

    # a panicked kernel whose QEMU runs on (sabrelite cannot reset under QEMU, so the kernel halts) is crashed
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(targets.state_dir(imx6q_sys))])
    try:
        _record(imx6q_sys, alive.pid, silent.getsockname()[1])
        status = machine_status(imx6q_sys)
        assert status.health is Health.CRASHED and "still runs" in status.detail
        (targets.state_dir(imx6q_sys) / "console.log").write_text("[ 3.1] Run /init as init process\n")

        # hung: QEMU's process lives (its command line names the state folder) and its port accepts, as user
        # networking always does, but no SSH banner ever comes
        _record(imx6q_sys, alive.pid, silent.getsockname()[1], ssh_after_s=None)
        assert machine_status(imx6q_sys).health is Health.BOOTING  # no login yet, within the boot timeout
        _record(imx6q_sys, alive.pid, silent.getsockname()[1])  # it logged in once: silence now is a hang
        status = machine_status(imx6q_sys)
        assert status.health is Health.HUNG and "did not answer" in status.detail
        assert board_for(imx6q_sys).lifecycle.status().problem == status.detail
        assert system_board.shutdown(imx6q_sys) is system_board.Shutdown.FORCED  # no login: QEMU is ended
        assert alive.wait(timeout=15) is not None
    finally:
        alive.kill()
        silent.close()
    assert machine_status(imx6q_sys).health is Health.DOWN


# -- the real machine -----------------------------------------------------------------------------------------
# name -> (threads to run, the core the guest's kernel names, HWCAPs it must have, and must not)
BOARDS = {
    "imx6q-sys": ((1, 2, 4), "Cortex-A9", {"neon", "vfpv3"}, {"vfpv4"}),  # VFPv3 + NEON, no VFPv4
    "rpi3-sys": ((2,), "Cortex-A53", {"asimd", "crc32"}, set()),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BOARDS))
def test_system_board_boots_runs_a_model_over_ssh_and_powers_off(name, edgebench_dirs, shared_cache, monkeypatch,
                                                                  tmp_path):
    from edgebench.bench.runtimes import BuiltRuntimes
    from edgebench.bench.session import RunRequest, Session
    from edgebench.results.result import RunSettings
    from edgebench.results.store import Store

    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))  # the image and the runtimes are shared
    monkeypatch.chdir(edgebench_dirs)
    device = get_device(name)
    thread_counts, core, has, lacks = BOARDS[name]
    board = board_for(device)
    try:
        up = board_for(device).lifecycle.up()
        assert up.up and board.reachability(1.0).status == "up"
        machine = system_board.machine_status(device).machine
        assert machine.ssh_after_s is not None and machine.ssh_after_s < system_board.BOOT_TIMEOUT_S
        known = (Path(up.state_dir) / "known_hosts").read_text()
        assert f"[127.0.0.1]:{up.port} {machine.host_key}" in known  # the image's build-time key, pinned

        results = {}
        with Store(tmp_path / "store.sqlite3") as store:
            for threads in thread_counts:
                request = RunRequest(device=device, models=("fd_mobilenet_0.25x",),
                                     settings=RunSettings(threads=threads, loops=1, warmup=0),
                                     artifacts_root=tmp_path / "artifacts")
                session = Session(board, BuiltRuntimes(), store, argv=["test"], on_stage=lambda s: None)
                _, (results[threads],) = session.execute(request, lambda r: None)
        for threads, r in results.items():
            assert r.status == "ok", r.error
            assert r.output_cosine_vs_host >= 0.9999, threads
            state = r.board
            # the guest's own kernel: 4 cores of the board's kind and its HWCAPs (the i.MX 6: no VFPv4)
            assert core in state.cpu_model and state.ncnn_cpu.count == 4
            assert has <= set(state.hwcaps) and not lacks & set(state.hwcaps)
            assert state.uname.startswith(f"Linux {device.system.image} ")
            machine_argv = " ".join(recipe(device.system.image).machine)
            assert state.emulated and state.emulator.startswith(f"{machine_argv} -smp 4")
            assert r.counters is None  # TCG wall time only
        assert len({json.dumps(r.output_checksum, sort_keys=True) for r in results.values()}) == 1
    finally:
        stopped = board_for(device).lifecycle.down()
    assert stopped
    console = (targets.state_dir(device) / "console.log").read_text()
    assert "reboot: System halted" in console  # the guest powered off on its own before QEMU was ended
    assert machine_status(device).health is Health.DOWN and not system_board._qemu_alive(machine, device)


@pytest.mark.slow
def test_target_image_cli_reuses_the_image_of_the_same_package_versions(edgebench_dirs, shared_cache, monkeypatch):
    from click.testing import CliRunner

    from edgebench.cli import main

    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    first = CliRunner().invoke(main, ["target", "image", "imx6q", "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["target", "image", "imx6q", "--json"], catch_exceptions=False)
    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert two["built_now"] is False and two["key"] == one["key"] and two["folder"] == one["folder"]
    assert {"busybox-static", "dropbear-bin", "openssh-sftp-server"} <= set(one["packages"])
    assert any(name.startswith("linux-image-") and name.endswith("-armmp") for name in one["packages"])
    folder = Path(one["folder"])
    for name in ("vmlinuz", "imx6q-sabrelite.dtb", "initramfs.cpio.gz", "client_ed25519"):
        assert (folder / name).is_file()
    # the pinned host key is the one inside the image; its private half never leaves the initramfs
    entries = _read_newc(folder / "initramfs.cpio.gz")
    assert entries["etc/dropbear/dropbear_ed25519_host_key"][0] == stat.S_IFREG | 0o600
    assert one["host_key"].startswith("ssh-ed25519 ") and not (folder / "dropbear_ed25519_host_key").exists()
    assert entries["root/.ssh/authorized_keys"][3] == (folder / "client_ed25519.pub").read_bytes()
