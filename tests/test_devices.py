"""devices.yaml: the packaged inventory, the lookup order, and errors that name file, entry and field."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.boards.board import board_for
from edgebench.boards.devices import PACKAGED_DEVICES, load_devices, parse_devices_file
from edgebench.caches import CacheGeometry, CacheLevel
from edgebench.boards.launcher import Launcher
from edgebench.cli import main
from edgebench.errors import EdgebenchError


@pytest.fixture
def isolated(edgebench_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd without a devices.yaml and a private ~/.config: only the packaged default is visible."""
    cwd = edgebench_dirs / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return edgebench_dirs


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_packaged_default_ships_the_emulated_boards(isolated):
    devices = load_devices()
    assert set(devices) == {"imx6", "imx7", "rpi3", "rpi3-32", "rpi4", "imx6q-sys", "rpi3-sys"}
    assert (devices["rpi3-32"].arch, devices["rpi3-32"].cpu) == ("armv7", "cortex-a53")  # a Pi 3 under Raspbian
    imx6 = devices["imx6"]
    assert (imx6.arch, imx6.cpu, imx6.cores, imx6.clock_mhz) == ("armv7", "cortex-a9", 1, 800)
    assert imx6.emulator.argv == ("qemu-arm", "-cpu", "cortex-a9") and imx6.emulated
    assert imx6.cache == CacheGeometry(l1i=CacheLevel(32, 4, 32), l1d=CacheLevel(32, 4, 32),
                                       l2=CacheLevel(512, 16, 32))
    assert devices["rpi3"].emulator.argv == ("qemu-aarch64", "-cpu", "cortex-a53")
    assert (devices["rpi4"].arch, devices["rpi4"].clock_mhz) == ("aarch64", 1500)
    assert devices["rpi4"].emulator.cpu == "cortex-a72"
    assert imx6.source == PACKAGED_DEVICES
    system = devices["imx6q-sys"]
    assert (system.system.image, system.system.memory_mib, system.cores) == ("imx6q", 1024, 4)
    assert system.emulator is None and system.connection is None
    assert (devices["rpi3-sys"].system.image, devices["rpi3-sys"].arch) == ("rpi3", "aarch64")


def test_the_inventory_says_which_counting_boards_are_modeled_and_why_one_is_not(isolated):
    res = CliRunner().invoke(main, ["devices", "--json", "--timeout", "0.5"])
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert {n: r["modeled"] for n, r in rows.items()} == {
        "imx6": True, "imx7": True, "rpi3": False, "rpi3-32": True, "rpi4": True, "imx6q-sys": None, "rpi3-sys": None}
    assert "no latency constants for cortex-a53 in aarch64" in rows["rpi3"]["unmodeled"]
    table = CliRunner().invoke(main, ["devices", "--timeout", "0.5"])
    assert "not modeled: no latency constants for cortex-a53 in aarch64" in table.stdout


def test_repo_root_devices_yaml_is_the_packaged_file():
    root_file = Path(__file__).resolve().parents[1] / "devices.yaml"
    assert root_file.resolve() == PACKAGED_DEVICES.resolve()


def test_launcher_prefixes_view_and_emulator_only_on_emulated_devices(isolated):
    user = write(isolated / "config" / "edgebench" / "devices.yaml", """
        board:
          arch: armv7
          cpu: cortex-a9
          cores: 4
          clock_mhz: 996
          connection: {host: 10.0.0.2}
    """)
    devices = load_devices()
    emulated = Launcher(view_prefix=("unshare", "--mount", "--", "sh"), emulator=devices["imx6"].emulator.argv)
    assert emulated.argv(["./runner", "--loops", "3"]) == [
        "unshare", "--mount", "--", "sh", "qemu-arm", "-cpu", "cortex-a9", "./runner", "--loops", "3"]
    assert emulated.argv(["./r"], ["-plugin", "x.so"])[-6:] == ["qemu-arm", "-cpu", "cortex-a9", "-plugin", "x.so",
                                                               "./r"]
    assert board_for(devices["board"]).launcher.argv(["./r"]) == ["./r"]
    assert devices["board"].source == user
    with pytest.raises(ValueError, match="natively"):
        board_for(devices["board"]).launcher.argv(["./r"], ["-plugin", "x.so"])


def test_relative_key_paths_are_relative_to_the_yaml_file(isolated):
    lab = write(isolated / "lab" / "devices.yaml", """
        pi:
          arch: aarch64
          cpu: cortex-a72
          cores: 4
          clock_mhz: 1500
          connection: {host: pi, identity_file: keys/pi, known_hosts: ~/.ssh/lab_hosts, ssh_config: /etc/x}
    """)
    conn = load_devices(lab)["pi"].connection
    assert conn.identity_file == str((isolated / "lab" / "keys" / "pi").resolve())
    assert (conn.known_hosts, conn.ssh_config) == ("~/.ssh/lab_hosts", "/etc/x")


def test_lookup_order_explicit_then_cwd_then_user_then_packaged(isolated):
    entry = """
        imx6:
          arch: armv7
          cpu: cortex-a9
          cores: 1
          clock_mhz: {clock}
          emulator: [qemu-arm, -cpu, cortex-a9]
        only_{where}:
          arch: aarch64
          cpu: cortex-a53
          cores: 4
          clock_mhz: 1200
          connection: {{host: {where}.example}}
    """
    user = write(isolated / "config" / "edgebench" / "devices.yaml", entry.format(clock=1, where="user"))
    assert load_devices()["imx6"].clock_mhz == 1
    cwd = write(Path.cwd() / "devices.yaml", entry.format(clock=2, where="cwd"))
    assert load_devices()["imx6"].clock_mhz == 2
    explicit = write(isolated / "lab.yaml", entry.format(clock=3, where="explicit"))
    devices = load_devices(explicit)
    assert devices["imx6"].clock_mhz == 3 and devices["imx6"].source == explicit
    # merged by name: every file's other entries stay visible, the packaged ones too
    assert {"only_user", "only_cwd", "only_explicit", "rpi3", "rpi4"} <= set(devices)
    assert devices["only_user"].source == user and devices["only_cwd"].source == cwd
    with pytest.raises(EdgebenchError, match="does not exist"):
        load_devices(isolated / "missing.yaml")


VALID = {"arch": "armv7", "cpu": "cortex-a9", "cores": 1, "clock_mhz": 800, "connection": {"host": "10.0.0.9"}}


@pytest.mark.parametrize("change, field, problem", [
    ({"arch": None}, "arch", "missing"),
    ({"arch": "x86_64"}, "arch", "must be one of armv7, aarch64"),
    ({"cores": "four"}, "cores", "expected int, got str"),
    ({"cores": True}, "cores", "expected int, got bool"),
    ({"clock_mhz": 0}, "clock_mhz", "must be > 0"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"connection": None}, "connection", "a real board needs connection.host"),
    ({"connection": {"port": 22}}, "connection.host", "missing"),
    ({"connection": {"host": "b", "port": 70000}}, "connection.port", "1..65535"),
    ({"connection": {"host": "b", "password": "hunter2"}}, "connection.password", "passwords are not read"),
    ({"connection": "b.example"}, "connection", "expected a mapping"),
    ({"connection": None, "emulator": ["qemu-arm"]}, "emulator", "-cpu"),
    ({"connection": None, "emulator": ["qemu-aarch64", "-cpu", "cortex-a53"]}, "emulator",
     "runs under qemu-arm"),
    ({"connection": None, "emulator": "qemu-arm -cpu cortex-a9"}, "emulator", "expected list"),
    ({"emulator": ["qemu-arm", "-cpu", "cortex-a9"]}, "connection", "drop connection"),
    ({"workdir": "~/bench"}, "workdir", "no '~'"),
    ({"cache": {"l1i": {"size_kib": 32, "ways": 4, "line_bytes": 32}}}, "cache.l1d", "missing"),
    ({"cache": {"l1i": {"size_kib": 32, "ways": 4, "line_bytes": 48},
                "l1d": {"size_kib": 32, "ways": 4, "line_bytes": 32}}}, "cache.l1i", "power of two"),
    ({"runner": {"loops": -1}}, "runner.loops", "must be > 0"),
    ({"runner": {"threds": 2}}, "runner.threds", "unknown field"),
])
def test_malformed_entry_names_file_entry_and_field(tmp_path, change, field, problem):
    import yaml

    entry = {**VALID, **change}
    entry = {k: v for k, v in entry.items() if v is not None}
    path = tmp_path / "bad devices.yaml"
    path.write_text(yaml.safe_dump({"good": VALID, "my board": entry}))
    with pytest.raises(EdgebenchError) as info:
        parse_devices_file(path)
    message = info.value.message
    assert str(path) in message and "'my board'" in message and f"field {field}:" in message, message
    assert problem in message, message


@pytest.mark.parametrize("text, problem", [
    ("- imx6\n- rpi3\n", "expected a mapping of device name"),
    ("imx6: [unclosed\n", "not valid YAML"),
])
def test_malformed_file(tmp_path, text, problem):
    path = write(tmp_path / "devices.yaml", text)
    with pytest.raises(EdgebenchError, match=problem) as info:
        parse_devices_file(path)
    assert str(path) in info.value.message and "\n" not in info.value.message


def test_cli_inventory_reports_real_board_unreachable_and_targets_down(isolated):
    with socket.socket() as sock:  # a port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lab = write(isolated / "lab.yaml", f"""
        closed-board:
          arch: aarch64
          cpu: cortex-a72
          cores: 4
          clock_mhz: 1500
          connection: {{host: 127.0.0.1, port: {port}, known_hosts: {isolated / "kh"}}}
    """)
    result = CliRunner().invoke(main, ["devices", "--devices", str(lab), "--json", "--timeout", "2"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["closed-board"]["kind"] == "real" and rows["closed-board"]["status"] == "unreachable"
    assert f"127.0.0.1:{port}" in rows["closed-board"]["detail"]
    assert rows["imx6"]["kind"] == "emulated" and rows["imx6"]["status"] == "down"


def test_cli_malformed_file_is_one_line_error(isolated):
    bad = write(isolated / "bad.yaml", "b:\n  arch: mips\n")
    result = CliRunner().invoke(main, ["devices", "--devices", str(bad)])
    assert result.exit_code == 2
    assert "device 'b', field arch: must be one of" in result.output and "Traceback" not in result.output
