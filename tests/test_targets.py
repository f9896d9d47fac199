"""Emulated targets (a private sshd + qemu-user) and the board state they and real boards report.

A real i.MX 6 cannot exist here: the emulated imx6 (qemu-arm -cpu cortex-a9 behind a real sshd) and, for
/proc/cpuinfo parsing, the text a real i.MX 6Quad kernel prints stand in for one; each test says which.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.boards import targets
from edgebench.boards.board import board_for
from edgebench.boards.deploy import deploy
from edgebench.boards.devices import Device, get_device
from edgebench.boards.state import board_flags, parse_cpuinfo, parse_guest_hwcaps
from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.results.result import BoardState

VFPV4_PROGRAM = textwrap.dedent(r"""
    #include <stdio.h>
    int main(void) {
        float r;  /* one scalar VFPv4 fused multiply-add: a Cortex-A9 (VFPv3) has no such instruction */
        __asm__ volatile("vmov.f32 s1, #1.0\n\tvmov.f32 s2, #2.0\n\tvmov.f32 s0, #0.5\n\t"
                         "vfma.f32 s0, s1, s2\n\tvmov %0, s0" : "=r"(r) : : "s0", "s1", "s2");
        printf("%g\n", r);
        return 0;
    }
""")


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def imx6(edgebench_dirs, monkeypatch, shared_cache):
    monkeypatch.chdir(edgebench_dirs)
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))  # the counting QEMU build is shared
    device = get_device("imx6")
    yield device
    targets.target_down(device)


@pytest.mark.slow
def test_target_up_status_down_lifecycle(imx6):
    assert targets.target_status(imx6).up is False
    status = targets.target_up(imx6)
    assert status.up and accepts(status.port) and Path(status.workdir).is_dir()
    host_pub = (Path(status.state_dir) / "ssh_host_ed25519_key.pub").read_text().split()[1]
    assert f"[127.0.0.1]:{status.port} ssh-ed25519 {host_pub}" in (Path(status.state_dir) / "known_hosts").read_text()
    assert targets.target_up(imx6).pid == status.pid  # already up: the same server

    transport, endpoint = targets.connect(imx6)
    with transport:
        assert endpoint.workdir == status.workdir
        assert transport.run(["pwd"], timeout=30).ok

    assert targets.target_down(imx6) is True
    assert targets.target_status(imx6).up is False and not accepts(status.port)
    assert targets.target_down(imx6) is False
    with pytest.raises(EdgebenchError, match="is down"):
        targets.endpoint_for(imx6, start_target=False)

    # started on demand, with the same host key (kept between ups) and a pinned entry for the new port
    endpoint = targets.ensure_target_up(imx6)
    assert targets.target_status(imx6).up
    again = (Path(status.state_dir) / "ssh_host_ed25519_key.pub").read_text().split()[1]
    assert again == host_pub and f"{endpoint.connection.port} ssh-ed25519 {host_pub}" in \
        Path(endpoint.connection.known_hosts).read_text()


@pytest.mark.slow
def test_a_dead_server_is_reported_down_and_restarted(imx6):
    import os
    import signal

    first = targets.target_up(imx6)
    os.kill(first.pid, signal.SIGKILL)  # the target's sshd dies behind our back
    deadline = time.monotonic() + 10
    while targets.target_status(imx6).up:  # SIGKILL is delivered asynchronously
        assert time.monotonic() < deadline, "a killed sshd still reported up"
        time.sleep(0.05)
    second = targets.target_up(imx6)
    assert second.up and second.pid != first.pid


@pytest.mark.slow
def test_target_cli(imx6, edgebench_dirs):
    cli = CliRunner()
    up = cli.invoke(main, ["target", "up", "imx6", "--json"])
    assert up.exit_code == 0, up.output
    port = json.loads(up.stdout)["port"]
    assert accepts(port)
    status = cli.invoke(main, ["target", "status", "--json"])
    rows = {r["name"]: r for r in json.loads(status.stdout)}
    assert rows["imx6"]["up"] and not rows["rpi3"]["up"]
    inventory = {r["name"]: r for r in json.loads(cli.invoke(main, ["devices", "--json"]).stdout)}
    assert inventory["imx6"]["status"] == "up" and inventory["rpi4"]["status"] == "down"
    down = cli.invoke(main, ["target", "down", "imx6", "--json"])
    assert json.loads(down.stdout) == {"name": "imx6", "stopped": True} and not accepts(port)
    real = edgebench_dirs / "real.yaml"
    real.write_text("pi: {arch: aarch64, cpu: a72, cores: 4, clock_mhz: 1500, connection: {host: x}}\n")
    refused = cli.invoke(main, ["target", "up", "pi", "--devices", str(real)])
    assert refused.exit_code == 2 and "real board, not an emulated target" in refused.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("arm-linux-gnueabihf-gcc") is None, reason="needs g++-arm-linux-gnueabihf")
def test_vfpv4_binary_on_the_emulated_cortex_a9_dies_with_sigill_named(imx6, tmp_path):
    """A real static ARM binary with one `vfma.f32`, deployed over SSH and run as the emulated i.MX 6."""
    source = tmp_path / "vfma.c"
    source.write_text(VFPV4_PROGRAM)
    binary = tmp_path / "vfma"
    subprocess.run(["arm-linux-gnueabihf-gcc", "-static", "-O1", "-marm", "-mfpu=vfpv4", "-mfloat-abi=hard",
                    str(source), "-o", str(binary)], check=True)
    transport, endpoint = targets.connect(imx6)
    with transport:
        deploy(transport, {"vfma": binary}, endpoint.workdir)
        program = f"{endpoint.workdir}/vfma"
        result = transport.run(board_for(imx6).launcher.argv([program]), timeout=60)
        assert result.signal_name == "SIGILL" and result.exit_status is None, result
        assert "VFPv4/NEON mismatch?" in result.describe()
        # the same binary on a CPU that has VFPv4 (Cortex-A15) computes 0.5 + 1*2: the test can tell them apart
        a15 = transport.run(["qemu-arm", "-cpu", "cortex-a15", program], timeout=60)
        assert a15.ok and a15.stdout.strip() == "2.5"


@pytest.mark.slow
@pytest.mark.parametrize("name, present, absent", [
    ("imx6", {"neon", "vfpv3", "vfp"}, {"vfpv4", "idiva", "lpae"}),  # Cortex-A9: VFPv3 + NEON, no VFPv4
    ("rpi4", {"fp", "asimd", "crc32"}, {"sve"}),
])
def test_emulated_board_state_names_the_emulator_and_its_cpu(edgebench_dirs, monkeypatch, shared_cache, name, present,
                                                             absent):
    monkeypatch.chdir(edgebench_dirs)
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    device = get_device(name)
    try:
        transport, _ = targets.connect(device)
        with transport:
            before = board_for(device).state_before(transport)
            state = board_for(device).state_after(transport, before)
    finally:
        targets.target_down(device)
    exe = device.emulator.argv[0]
    assert state.emulated and state.emulator == " ".join(device.emulator.argv)
    assert state.emulator_version.startswith(f"{exe} version ")
    assert state.cpu_model.startswith(f"{device.emulator.cpu} (emulated by {exe}")
    assert present <= set(state.hwcaps) and not absent & set(state.hwcaps), state.hwcaps
    assert state.uname.startswith("Linux") and len(state.loadavg) == 3
    assert state.freq_khz_before is None  # the host's clock says nothing about the emulated CPU


@pytest.mark.slow
def test_real_board_state_over_ssh(sshd):
    """The local sshd stands in for a real board: state comes from its /proc and /sys over SSH."""
    device = Device(name="stand-in", arch="aarch64", cpu="host", cores=2, clock_mhz=1000, source=Path("x"),
                    connection=sshd.connection)
    with sshd.connect() as transport:
        before = board_for(device).state_before(transport)
        state = board_for(device).state_after(transport, before)
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    assert state.uname == uname and not state.emulated and state.emulator is None
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    assert (state.cpu_model, state.hwcaps) == parse_cpuinfo(cpuinfo)
    assert state.cpu_model and state.hwcaps
    has_freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq").exists()
    assert (state.freq_khz_before is not None) == has_freq == (state.freq_khz_after is not None)


# -- parsing and flags (no board needed) ------------------------------------------------------------------------

IMX6Q_CPUINFO = """\
processor	: 0
model name	: ARMv7 Processor rev 10 (v7l)
BogoMIPS	: 6.00
Features	: half thumb fastmult vfp edsp neon vfpv3 tls vfpd32
CPU implementer	: 0x41
CPU architecture: 7
CPU variant	: 0x2
CPU part	: 0xc09
CPU revision	: 10

Hardware	: Freescale i.MX6 Quad/DualLite (Device Tree)
Revision	: 0000
Serial		: 0000000000000000
""".splitlines()  # as an i.MX 6Quad's kernel prints it; no such board exists here


def test_cpuinfo_of_an_imx6():
    model, hwcaps = parse_cpuinfo(IMX6Q_CPUINFO)
    assert model == "Cortex-A9; ARMv7 Processor rev 10 (v7l); Freescale i.MX6 Quad/DualLite (Device Tree)"
    assert "neon" in hwcaps and "vfpv4" not in hwcaps


def test_guest_hwcaps_as_glibc_prints_them():
    assert parse_guest_hwcaps("armv7", ["AT_HWCAP:        swp half thumb neon vfpv3"]) == \
        ["swp", "half", "thumb", "neon", "vfpv3"]
    assert parse_guest_hwcaps("aarch64", ["AT_HWCAP:             8fb"]) == \
        ["fp", "asimd", "aes", "pmull", "sha1", "sha2", "crc32", "cpuid"]
    assert parse_guest_hwcaps("aarch64", []) == []


def test_flags_for_a_clock_drop_a_hot_board_and_a_low_clock():
    device = Device(name="b", arch="armv7", cpu="cortex-a9", cores=1, clock_mhz=800, source=Path("x"))
    steady = BoardState(freq_khz_before=792000, freq_khz_after=792000, temp_c_before=45.0, temp_c_after=52.5)
    assert board_flags(device, steady) == []
    throttled = BoardState(freq_khz_before=792000, freq_khz_after=396000, temp_c_before=70.0, temp_c_after=86.0,
                           governor="ondemand")
    flags = board_flags(device, throttled)
    assert "clock dropped 792000 -> 396000 kHz during the run" in flags
    assert "clock below nominal: 396 of 800 MHz, governor ondemand" in flags
    assert "ran hot: 86.0 °C (limit 80 °C)" in flags


@pytest.mark.slow
def test_hostile_device_name_runs_nothing(edgebench_dirs, monkeypatch, shared_cache):
    """An emulated device whose name is shell and sshd_config syntax: it works, and nothing it spells runs."""
    import yaml

    pwn = edgebench_dirs / "pwned"
    name = f"""imx6 "x" 'y'; $(touch {pwn}) `touch {pwn}` %h ../.."""
    devices_file = edgebench_dirs / "hostile.yaml"
    devices_file.write_text(yaml.safe_dump({name: {"arch": "armv7", "cpu": "cortex-a9", "cores": 1,
                                                   "clock_mhz": 800, "emulator": ["qemu-arm", "-cpu", "cortex-a9"]}}))
    monkeypatch.chdir(edgebench_dirs)
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    device = get_device(name, devices_file)
    try:
        status = targets.target_up(device)
        assert status.up and Path(status.state_dir).parent == edgebench_dirs / "data" / "targets"
        transport, endpoint = targets.connect(device)
        with transport:
            assert transport.run(["echo", name], timeout=30).stdout == name + "\n"
            state = board_for(device).state_before(transport)
            assert state.emulated
        result = CliRunner().invoke(main, ["target", "status", name, "--devices", str(devices_file), "--json"])
        assert json.loads(result.stdout)["up"]
    finally:
        targets.target_down(device)
    assert not pwn.exists()
    with pytest.raises(EdgebenchError, match="must be non-empty and printable"):
        devices_file.write_text(yaml.safe_dump({"a\nb": {"arch": "armv7"}}))
        get_device("x", devices_file)


def test_only_boards_edgebench_starts_have_a_lifecycle_and_target_refuses_the_rest(edgebench_dirs):
    """`edgebench target` goes through the Board's lifecycle: it never asks which kind of board it has."""
    lab = edgebench_dirs / "lab.yaml"
    lab.write_text("pi: {arch: aarch64, cpu: cortex-a72, cores: 4, clock_mhz: 1500, connection: {host: x}}\n"
                   "lab-pi: {arch: aarch64, cpu: cortex-a72, cores: 4, clock_mhz: 1500, "
                   "labgrid: {place: pi-1, coordinator: 127.0.0.1:1}}\n")
    kinds = {name: board_for(get_device(name, lab if name in ("pi", "lab-pi") else None))
             for name in ("imx6", "imx6q-sys", "pi", "lab-pi")}
    assert [type(b.lifecycle).__name__ for b in kinds.values()] == ["SshdLifecycle", "MachineLifecycle",
                                                                    "NoneType", "NoneType"]
    cli = CliRunner()
    for name, kind in (("pi", "real"), ("lab-pi", "labgrid")):
        for verb in ("up", "down", "status"):
            res = cli.invoke(main, ["target", verb, name, "--devices", str(lab)])
            assert res.exit_code == 2 and f"is a {kind} board, not an emulated target" in res.output
            assert "Traceback" not in res.output
    listed = json.loads(cli.invoke(main, ["target", "status", "--json", "--devices", str(lab)]).stdout)
    assert {r["name"] for r in listed} >= {"imx6", "imx6q-sys"} and not {"pi", "lab-pi"} & {r["name"] for r in listed}
