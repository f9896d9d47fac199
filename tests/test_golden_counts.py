"""The cross-machine check: tests/data/golden_counts.json holds exact counts (every field) of three NCNN
reference models on every emulated device, made by `python benchmarks/golden_counts.py --write`. Any machine
with the same pinned runtime, counting QEMU and board views must reproduce them exactly; no tolerance.

Two hosts cannot be had here, so the second test changes everything host-side it can (the CPU tree and
cpuinfo the host shows, the environment's size, the working folder, where the build cache lives, the CPUs the
process may run on) and asserts the same integers, and that without the board's view the same fake host would
have changed them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.boards.devices import PACKAGED_DEVICES, parse_devices_file

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import golden_counts  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def counting_env(monkeypatch, shared_cache, tmp_path):
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))


@pytest.mark.parametrize("name", golden_counts.DEVICES)
def test_golden_counts_are_reproduced_exactly(counting_env, name):
    device = parse_devices_file(PACKAGED_DEVICES)[name]
    golden = golden_counts.load_golden()
    inputs = golden_counts.inputs_for(device)
    counts = golden_counts.count_device(device)
    diff = golden_counts.differences(golden, name, inputs, counts)
    assert not diff, ("differs from tests/data/golden_counts.json (after a deliberate runtime, emulator or view "
                      "change: python benchmarks/golden_counts.py --write): " + "; ".join(diff))


# libgcc's int64 -> double conversions: soft-float on ARMv7, with an instruction count that depends on the
# value. A clock reading converted inside the counted window made the golden counts move by 3 instructions.
CLOCK_CONVERSIONS = {"__floatdidf", "__floatundidf", "__aeabi_l2d", "__aeabi_ul2d"}


def test_the_counted_window_converts_no_clock_reading(counting_env):
    """The timed window holds the inference only: no value that changes from run to run (the clock) may
    be computed on inside it, or the count depends on when it ran."""
    from edgebench.boards.board import board_for
    from edgebench.ncnn_tools.build import build_runtime
    from edgebench.ncnn_tools.reference import REFERENCE_DIR

    device = parse_devices_file(PACKAGED_DEVICES)["imx6"]
    calibration = golden_counts.calibration_script()
    target = next(t for t in calibration.TARGETS.values() if t.device == device.name)
    job = calibration.CountJob("blazeface", REFERENCE_DIR / "blazeface.param", target, device, "golden")
    entry = calibration._count_one(job, build_runtime(device.arch, progress=False).runner, board_for(device).launcher,
                                   device.cache, {}, symbols=True)
    assert "error" not in entry, entry.get("error")
    assert any(name.startswith("_ZNK4ncnn") for name in entry["functions"])  # the attribution saw NCNN's layers
    assert not CLOCK_CONVERSIONS & set(entry["functions"]), sorted(CLOCK_CONVERSIONS & set(entry["functions"]))


def _fake_host(root: Path) -> tuple[Path, Path]:
    """A host unlike this one: 64 CPUs with a 4 MiB private L2 each and a 64 MiB L3, an A53-looking cpuinfo."""
    tree = root / "cpu"
    for cpu in range(64):
        for index, (level, kind, size) in enumerate(((1, "Data", "64K"), (1, "Instruction", "64K"),
                                                     (2, "Unified", "4096K"), (3, "Unified", "65536K"))):
            folder = tree / f"cpu{cpu}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for file, value in (("level", level), ("type", kind), ("size", size),
                                ("shared_cpu_map", format(1 << cpu, "x") if level < 3 else "f" * 16)):
                (folder / file).write_text(f"{value}\n")
        (tree / f"cpu{cpu}" / "topology").mkdir()
        (tree / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(f"{cpu}\n")
    for name in ("online", "possible", "present"):
        (tree / name).write_text("0-63\n")
    cpuinfo = root / "cpuinfo"
    cpuinfo.write_text("".join(f"processor\t: {n}\nCPU implementer\t: 0x41\nCPU part\t: 0xd03\n\n" for n in range(64)))
    return tree, cpuinfo


def _count_on_fake_host(fake: tuple[Path, Path], cwd: Path, devices: str, without_view: bool) -> dict:
    tree, cpuinfo = fake
    script = 'mount --bind "$1" /sys/devices/system/cpu && mount --bind "$2" /proc/cpuinfo && shift 2 && exec "$@"'
    # sched_getaffinity is the one CPU fact qemu-user passes through from the host: give it one CPU only.
    pin = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if shutil.which("taskset") else []
    argv = [*pin, "unshare", "--mount", "--", "sh", "-c", script, "sh", str(tree), str(cpuinfo),
            sys.executable, str(BENCHMARKS / "golden_counts.py"), "--devices", devices, "--models", "blazeface",
            "--json", *(["--without-view"] if without_view else [])]
    # A much larger environment, and the same build cache reached by a longer path (another host keeps it
    # elsewhere): neither may reach the counts.
    cache = cwd / "a" / "cache" / "kept" / "somewhere" / "else"
    cache.parent.mkdir(parents=True, exist_ok=True)
    if not cache.exists():
        cache.symlink_to(os.environ["EDGEBENCH_CACHE"])
    env = {**os.environ, "EDGEBENCH_PADDING": "x" * 65536, "EDGEBENCH_CACHE": str(cache)}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(os.geteuid() != 0, reason="replacing the host's /sys/devices/system/cpu needs root")
def test_counts_do_not_depend_on_what_the_host_shows(counting_env, tmp_path):
    golden = golden_counts.load_golden()["devices"]
    fake = _fake_host(tmp_path / "host")
    elsewhere = tmp_path / "some" / "other" / "folder"
    elsewhere.mkdir(parents=True)
    seen = _count_on_fake_host(fake, elsewhere, "imx6,rpi3", without_view=False)
    for device in ("imx6", "rpi3"):
        assert seen[device]["blazeface"] == golden[device]["counts"]["blazeface"], device
    # The same host without the board's view tiles for a 4 MiB L2: the check above can fail.
    hostile = _count_on_fake_host(fake, elsewhere, "imx6", without_view=True)
    assert hostile["imx6"]["blazeface"]["l2_misses"] != golden["imx6"]["counts"]["blazeface"]["l2_misses"]
