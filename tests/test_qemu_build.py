"""The counting emulator (ncnn_tools/qemu_build.py): the pinned QEMU 7.2 build, its key, and its errors.

Fast tests run the lookup against fake tools on a private PATH and a private cache: no build, no network.
Slow tests build the real thing once into the shared build cache (EDGEBENCH_TEST_CACHE) and check that it
counts exactly what Debian 12's qemu-user counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools import plugin, qemu_build
from edgebench.ncnn_tools.qemu_build import PINNED, counting_qemu, pinned_key, resolve_emulator_argv

ARCHS = ("armv7", "aarch64")


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """A private cache and a PATH holding only fake tools (tmp/bin) the test writes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("EDGEBENCH_QEMU", raising=False)
    monkeypatch.setattr(qemu_build, "_meson", lambda: shutil.which("meson"))  # not the interpreter's own
    return bin_dir


def fake(bin_dir: Path, name: str, script: str = "exit 0") -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def fake_build_tools(bin_dir: Path) -> None:
    for tool in ("cc", "ninja", "pkg-config", "dpkg-source"):
        fake(bin_dir, tool)
    fake(bin_dir, "meson", "echo 0.63.3")


# ---- fast ----

def test_the_key_covers_the_source_and_the_configure_flags():
    key = pinned_key()
    assert len(key) == 64 and key == pinned_key()
    assert pinned_key(dataclasses.replace(PINNED, dsc_sha256="0" * 64)) != key
    assert pinned_key(flags=[*qemu_build.CONFIGURE_FLAGS, "--enable-debug"]) != key
    assert PINNED.dsc_name == "qemu_7.2+dfsg-7+deb12u18.dsc"  # the epoch is not part of the file name


def test_a_warm_lookup_needs_no_tool(bare, tmp_path):
    entry = tmp_path / "cache" / "qemu" / pinned_key()[:16]
    entry.mkdir(parents=True)
    for name in qemu_build.EMULATORS:
        (entry / name).write_text("")
    (entry / "qemu.json").write_text(json.dumps({"versions": {"qemu-arm": "qemu-arm version 7.2.22 (x)",
                                                              "qemu-aarch64": "qemu-aarch64 version 7.2.22 (x)"}}))
    qemu = counting_qemu("qemu-arm")
    assert (qemu.path, qemu.version, qemu.key, qemu.source) == (
        entry / "qemu-arm", "qemu-arm version 7.2.22 (x)", pinned_key(), "pinned")
    assert resolve_emulator_argv(["qemu-aarch64", "-cpu", "cortex-a53"]) == [str(entry / "qemu-aarch64"),
                                                                             "-cpu", "cortex-a53"]


def test_only_bare_emulator_names_are_resolved(bare):
    assert resolve_emulator_argv(["/opt/qemu/bin/qemu-arm", "-cpu", "cortex-a9"]) == [
        "/opt/qemu/bin/qemu-arm", "-cpu", "cortex-a9"]
    assert resolve_emulator_argv(["true"]) == ["true"]
    assert resolve_emulator_argv([]) == []
    with pytest.raises(EdgebenchError, match="no counting emulator 'qemu-x86_64'"):
        counting_qemu("qemu-x86_64")


def test_missing_build_tools_are_named_in_one_line(bare):
    with pytest.raises(EdgebenchError, match="cannot build the counting QEMU .*: missing gcc, ninja-build, "
                                             "pkg-config, dpkg-dev, apt, meson>=0.61.5") as err:
        counting_qemu("qemu-arm")
    assert "scripts/setup.sh" in err.value.hint and "EDGEBENCH_QEMU=system" in err.value.hint
    fake_build_tools(bare)
    fake(bare, "apt-get")
    fake(bare, "pkg-config", "exit 1")  # no glib-2.0.pc
    fake(bare, "meson", "echo 0.59.0")
    with pytest.raises(EdgebenchError) as err:
        counting_qemu("qemu-arm")
    assert err.value.message.endswith(": missing libglib2.0-dev, meson>=0.61.5 (pip install meson==0.63.3)")


@pytest.mark.parametrize("apt_says, message, hint", [
    ("E: You must put some 'deb-src' URIs in your sources.list", "no deb-src entry", "bookworm deb-src"),
    ("E: Can not find version '1:7.2+dfsg-7+deb12u18' of package 'qemu'\n"
     "E: Unable to find a source package for qemu=1:7.2+dfsg-7+deb12u18", "Debian's pool has moved on",
     "snapshot.debian.org/package/qemu/1:7.2+dfsg-7+deb12u18/"),
    ("E: Failed to fetch http://deb.debian.org/x  Temporary failure resolving", "Temporary failure resolving",
     "into "),
])
def test_a_source_apt_cannot_give_is_a_clear_error(bare, apt_says, message, hint):
    fake_build_tools(bare)
    fake(bare, "apt-get", f"printf '%s\\n' \"{apt_says}\" >&2; exit 100")
    with pytest.raises(EdgebenchError, match=message) as err:
        counting_qemu("qemu-arm", progress=False)
    assert hint in err.value.hint and "\n" not in err.value.message
    assert not list((Path(os.environ["EDGEBENCH_CACHE"]) / "qemu").glob("*.tmp"))  # nothing half-built left


def test_a_source_that_differs_from_the_pin_is_refused(bare):
    fake_build_tools(bare)
    fake(bare, "apt-get", f"echo 'Format: 3.0 (quilt)' > {PINNED.dsc_name}")
    with pytest.raises(EdgebenchError, match="does not match the pinned sha256"):
        counting_qemu("qemu-arm", progress=False)
    assert not (Path(os.environ["EDGEBENCH_CACHE"]) / "qemu" / "source" / PINNED.dsc_name).exists()


def test_a_failed_build_step_names_its_log(bare, monkeypatch):
    fake_build_tools(bare)
    source = Path(os.environ["EDGEBENCH_CACHE"]) / "qemu" / "source"
    source.mkdir(parents=True)
    (source / PINNED.dsc_name).write_text("stands in for the pinned .dsc")
    real_sha = qemu_build._sha256_file
    monkeypatch.setattr(qemu_build, "_sha256_file",
                        lambda path: PINNED.dsc_sha256 if path.name == PINNED.dsc_name else real_sha(path))
    fake(bare, "dpkg-source", "echo 'dpkg-source: error: cannot read qemu_7.2+dfsg.orig.tar.xz'; exit 2")
    with pytest.raises(EdgebenchError, match=r"failed at 'unpack' \(exit 2\): dpkg-source: error: cannot read") as err:
        counting_qemu("qemu-arm", progress=False)
    log = Path(err.value.hint.split("full log: ")[1].split(";")[0])
    assert log.exists() and "cannot read" in log.read_text()


def test_system_opt_out_is_recorded_as_such(bare, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_QEMU", "system")
    with pytest.raises(EdgebenchError, match="EDGEBENCH_QEMU=system but qemu-arm is not on PATH"):
        counting_qemu("qemu-arm")
    fake(bare, "qemu-arm", "echo 'qemu-arm version 10.0.2 (Debian 1:10.0.2+ds-2)'")
    qemu = counting_qemu("qemu-arm")
    assert qemu.source == "system" and qemu.path == bare / "qemu-arm"
    assert qemu.version == "qemu-arm version 10.0.2 (Debian 1:10.0.2+ds-2)"
    assert qemu.key == "system-" + qemu_build._sha256_file(bare / "qemu-arm")
    # A system QEMU without -plugin (trixie's 10.0) stops counting with a clear error, no fallback.
    with pytest.raises(EdgebenchError, match="has no TCG plugin support") as err:
        plugin.require_plugin_support("qemu-arm")
    assert "EDGEBENCH_QEMU unset" in err.value.hint
    monkeypatch.setenv("EDGEBENCH_QEMU", "newest")
    with pytest.raises(EdgebenchError, match="EDGEBENCH_QEMU='newest' is neither 'pinned' nor 'system'"):
        counting_qemu("qemu-arm")


# ---- slow: the real build ----

@pytest.mark.slow
def test_the_pinned_build_reports_its_version_and_takes_plugins(build_cache):
    for name in qemu_build.EMULATORS:
        qemu = counting_qemu(name)
        assert qemu.source == "pinned" and qemu.path.is_relative_to(build_cache)
        assert qemu.version.startswith(f"{name} version 7.2.")
        assert f"edgebench {qemu.key[:12]}, Debian {PINNED.version}" in qemu.version
        help_text = subprocess.run([qemu.path, "-h"], capture_output=True, text=True).stdout
        assert "-plugin" in help_text
    started = time.monotonic()
    counting_qemu("qemu-arm")
    assert time.monotonic() - started < 0.5  # warm: one JSON read


@pytest.mark.slow
def test_the_plugin_is_keyed_by_the_emulator(build_cache, monkeypatch):
    if shutil.which("qemu-arm") is None:
        pytest.skip("no system qemu-arm to compare with")
    pinned = plugin.build_plugin("qemu-arm")
    monkeypatch.setenv("EDGEBENCH_QEMU", "system")
    assert plugin.build_plugin("qemu-arm") != pinned


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_the_pinned_build_counts_what_debian_12s_qemu_user_counts(build_cache, tmp_path, monkeypatch, arch):
    exe = plugin.build_selftest(arch)
    qemu_cmd = plugin.selftest_qemu(arch)
    # One environment for both guests: its size moves the self-test's stack, and with it a few instructions
    # (the choice of emulator is read here, not by the guest).
    guest_env = {"PATH": os.environ["PATH"], "LC_ALL": "C"}
    pinned = plugin.run_counted(qemu_cmd, [str(exe), "work", "3", "20"], tmp_path / "pinned.jsonl", timeout=300,
                                env=guest_env)
    assert pinned.returncode == 0, pinned.stderr
    monkeypatch.setenv("EDGEBENCH_QEMU", "system")
    system_version = counting_qemu(qemu_cmd[0]).version
    if f"Debian {PINNED.version}" not in system_version:
        pytest.skip(f"the system QEMU is not Debian's {PINNED.version}: {system_version}")
    system = plugin.run_counted(qemu_cmd, [str(exe), "work", "3", "20"], tmp_path / "system.jsonl", timeout=300,
                                env=guest_env)
    assert system.returncode == 0, system.stderr
    assert plugin.parse_counts(pinned.counts_file) == plugin.parse_counts(system.counts_file)  # every field


def test_what_is_missing_for_counts_is_said_without_building_anything(bare, monkeypatch):
    """The inventory says why an emulated board cannot count yet, and never starts a minutes-long build."""
    assert "not built yet" in qemu_build.missing_counting_qemu("qemu-arm")
    assert not (Path(os.environ["EDGEBENCH_CACHE"]) / "qemu" / pinned_key()[:16]).exists()
    monkeypatch.setenv("EDGEBENCH_QEMU", "system")
    assert "qemu-arm not installed" in qemu_build.missing_counting_qemu("qemu-arm")
    fake(bare, "qemu-arm")
    assert qemu_build.missing_counting_qemu("qemu-arm") is None
