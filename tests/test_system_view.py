"""The board's system view: what each emulated board's guest reads as /sys/devices/system/cpu and
/proc/cpuinfo (edgebench.boards.sysview), checked against what the real boards' kernels show
(docs/board_system_views.md) and against NCNN's own rules for what it derives from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from edgebench.boards.devices import PACKAGED_DEVICES, parse_devices_file
from edgebench.errors import EdgebenchError
from edgebench.results.result import NcnnCpuInfo
from edgebench.boards.sysview import (CPU_TREE, CPUINFO, board_view, check_ncnn_saw, materialize, ncnn_mask_cpus,
                               require_namespace_support, view_prefix)

DEVICES = parse_devices_file(PACKAGED_DEVICES)


def test_imx6_shows_one_cortex_a9_and_no_caches_like_its_32_bit_kernel():
    view = board_view(DEVICES["imx6"])
    assert not [p for p in view.files if "/cache/" in p]  # ARM32 Linux lists no caches: NCNN falls back
    assert view.expected.l2_cache_bytes == 128 * 1024 and view.expected.count == 1
    cpuinfo = view.files[CPUINFO]
    assert cpuinfo.count("processor\t:") == 1 and "CPU part\t: 0xc09" in cpuinfo and "vfpv4" not in cpuinfo
    assert "Hardware\t: Freescale i.MX6 Quad/DualLite (Device Tree)" in cpuinfo
    assert view.files[f"{CPU_TREE}/cpu0/cpufreq/cpuinfo_max_freq"] == "792000\n"
    assert view.files[f"{CPU_TREE}/online"] == "0\n"
    assert not [p for p in view.files if "midr_el1" in p]  # 32-bit kernels export no MIDR


# NCNN reads the shared L2's mask "f" as CPUs 1 and 2 (see ncnn_mask_cpus), so it divides by 2, not 4.
@pytest.mark.parametrize("name, l2_kib, per_core_kib, a53", [("rpi3", 512, 256, True), ("rpi4", 1024, 512, False)])
def test_raspberry_pis_list_a_shared_l2_that_ncnn_divides_by_what_it_reads(name, l2_kib, per_core_kib, a53):
    view = board_view(DEVICES[name])
    index2 = f"{CPU_TREE}/cpu3/cache/index2"
    assert view.files[f"{index2}/size"] == f"{l2_kib}K\n" and view.files[f"{index2}/type"] == "Unified\n"
    assert view.files[f"{index2}/shared_cpu_map"] == "f\n" and view.files[f"{index2}/shared_cpu_list"] == "0-3\n"
    assert view.files[f"{CPU_TREE}/cpu3/cache/index0/shared_cpu_map"] == "8\n"  # private L1
    assert view.expected.l2_cache_bytes == per_core_kib * 1024 and view.expected.count == 4
    assert view.expected.a53_a55 is a53
    assert view.files[CPUINFO].count("processor\t:") == 4
    assert view.files[f"{CPU_TREE}/cpu0/regs/identification/midr_el1"].startswith("0x00000000410fd0")


def test_ncnn_reads_masks_by_the_low_bits_of_each_character():
    assert ncnn_mask_cpus("1") == {0} and ncnn_mask_cpus("8") == {3} and ncnn_mask_cpus("3") == {0, 1}
    assert ncnn_mask_cpus("f") == {1, 2} and ncnn_mask_cpus("0x10") == {4}


def test_views_differ_by_board_and_are_stable():
    digests = {name: board_view(d).digest for name, d in DEVICES.items() if d.emulated}
    assert len(set(digests.values())) == len(digests)
    assert board_view(DEVICES["imx6"]).digest == digests["imx6"]


def _devices(tmp_path: Path, body: str):
    path = tmp_path / "devices.yaml"
    path.write_text(textwrap.dedent(body))
    return parse_devices_file(path)


BOARD = """
    b:
      arch: aarch64
      cpu: cortex-a53
      cores: 2
      clock_mhz: 1000
      emulator: [qemu-aarch64, -cpu, cortex-a53]
      cache:
        l1i: {size_kib: 32, ways: 2, line_bytes: 64}
        l1d: {size_kib: 32, ways: 4, line_bytes: 64}
        l2: {size_kib: 512, ways: %s, line_bytes: 64}
"""


def test_a_geometry_no_kernel_could_list_is_one_clear_line(tmp_path):
    with pytest.raises(EdgebenchError, match="512 KiB, 48-way with 64-byte lines gives no power-of-two number of sets"
                       ) as err:
        _devices(tmp_path, BOARD % 48)  # 512 KiB is no whole number of 48-way 64-byte sets
    assert "device 'b', field cache.l2" in str(err.value)


@pytest.mark.parametrize("extra, match", [
    ("system_view: {cache_levels: [l3]}", "unknown cache 'l3'"),
    ("system_view: {cpufreq_khz: [500000]}", "is not clock_mhz"),
    ("system_view: {cpufreq_khz: []}", "non-empty list"),
    ("system_view: {colour: red}", "unknown field"),
])
def test_bad_system_view_fields_name_file_entry_and_field(tmp_path, extra, match):
    with pytest.raises(EdgebenchError, match=match) as err:
        _devices(tmp_path, BOARD % 16 + "      " + extra + "\n")
    assert "device 'b', field system_view" in str(err.value)


def test_the_view_is_written_once_and_rebuilt_when_edited_by_hand(tmp_path):
    view = board_view(DEVICES["rpi3"])
    folder = materialize(view, tmp_path)
    size = folder / CPU_TREE / "cpu0" / "cache" / "index2" / "size"
    assert size.read_text() == "512K\n"
    stamp = size.stat().st_mtime_ns
    assert materialize(view, tmp_path) == folder and size.stat().st_mtime_ns == stamp  # untouched
    size.write_text("8192K\n")  # a hand edit
    (folder / CPU_TREE / "cpu9").mkdir()  # and a CPU the board does not have
    assert materialize(view, tmp_path) == folder
    assert size.read_text() == "512K\n" and not (folder / CPU_TREE / "cpu9").exists()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # nothing half-written left beside it


def test_ncnn_seeing_anything_but_the_view_is_refused_naming_both():
    view = board_view(DEVICES["imx6"])
    host = NcnnCpuInfo(count=2, big=2, little=0, physical=2, l2_cache_bytes=2097152, l3_cache_bytes=157286400,
                       a53_a55=False, isa=["edsp", "neon"])
    with pytest.raises(EdgebenchError) as err:
        check_ncnn_saw(view, host, "edgebench-runner on imx6")
    text = err.value.message
    assert "L2 2097152 (the view gives 131072)" in text and "CPU count 2 (the view gives 1)" in text
    assert "\n" not in text
    check_ncnn_saw(view, NcnnCpuInfo(1, 1, 0, 1, 131072, 0, False, ["edsp", "neon"]), "x")  # the view's own


def _run_in_view(folder: Path, program: list[str], prefix: list[str] | None = None) -> str:
    done = subprocess.run([*(prefix or view_prefix(folder)), *program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_program_in_the_view_sees_only_the_board(tmp_path):
    require_namespace_support()
    folder = materialize(board_view(DEVICES["imx6"]), tmp_path)
    assert _run_in_view(folder, ["cat", "/proc/cpuinfo"]) == (folder / CPUINFO).read_text()
    assert _run_in_view(folder, ["ls", "/sys/devices/system/cpu/cpu0"]).split() == ["cpufreq", "topology"]
    assert Path("/proc/cpuinfo").read_text() != (folder / CPUINFO).read_text()  # the mounts stayed inside


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
def test_an_unprivileged_user_gets_the_view_through_a_user_namespace(tmp_path):
    root = Path("/tmp") / f"eb-view-{os.getpid()}"
    try:
        folder = materialize(board_view(DEVICES["rpi3"]), root)
        os.chmod(root, 0o755)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "unshare", "--map-root-user", "--mount", "--", *view_prefix(folder)[3:]]
        try:
            out = _run_in_view(folder, ["cat", "/sys/devices/system/cpu/cpu2/cache/index2/size"], prefix)
        except AssertionError as exc:
            pytest.skip(f"unprivileged user namespaces are off on this kernel: {exc}")
        assert out == "512K\n"
    finally:
        shutil.rmtree(root, ignore_errors=True)
