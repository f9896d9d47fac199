"""The counting emulator: Debian 12's QEMU 7.2 qemu-arm / qemu-aarch64, built from source with TCG plugins.

The counts are QEMU's view of the guest, so QEMU is part of the measurement and edgebench pins it like it
pins NCNN. Counting needs a dynamic qemu-user with plugin API v1: Debian 12's 7.2 has it, newer releases
move the API or ship qemu-user without -plugin (trixie's 10.0 answers `unknown option 'plugin'`).

    qemu = counting_qemu("qemu-arm")        # CountingQemu: path, version line, key, source
    argv = resolve_emulator_argv(["qemu-arm", "-cpu", "cortex-a9"])   # [<cache>/qemu/<key>/qemu-arm, ...]

Pinning: exact. PINNED names one Debian source version and the sha256 of its .dsc; the .dsc lists the
sha256 of both tarballs and dpkg-source checks them, so one hash fixes every byte of the source. It is
fetched once with `apt-get source` (a bookworm deb-src entry: scripts/setup.sh writes one) and kept in
<cache>/qemu/source/, so a machine that built once never needs Debian's pool again. Not chosen: building
whatever version apt offers and recording it. Every bookworm point release would then change the emulator
under a re-run (the deb12uN updates carry upstream 7.2.x TCG fixes), and off bookworm apt offers another
QEMU altogether. The price of the exact pin: Debian's pool keeps only the newest stable revision, so once
it moves on a fresh machine gets a clear error pointing at snapshot.debian.org (which keeps every
version) and the folder to put the three files in. Moving the pin is a one-line commit (version + sha256),
and the new key keeps counts from the two emulators apart.

Key: sha256 of the .dsc's sha256 and the configure flags (what decides the emulator's behaviour). The
compiler and meson that built it are recorded in <cache>/qemu/<key16>/qemu.json, not keyed, so a warm
lookup runs no subprocess and needs none of the build tools.

Opt-out: EDGEBENCH_QEMU=system counts with qemu-arm / qemu-aarch64 from PATH as they are, recorded as
source "system" with key "system-<sha256 of the binary>". edgebench never switches between the two on its
own: if the system QEMU cannot load the plugin (qemu-user-static, QEMU 10 without -plugin, a newer plugin
API) counting stops there with a clear error (plugin.require_plugin_support / run_counted).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.stages import Stages, exclusive, progress_display
from edgebench.paths import cache_dir


@dataclass(frozen=True)
class DebianSource:
    """One Debian source package version, fixed by its .dsc's sha256."""

    package: str
    version: str
    dsc_sha256: str

    @property
    def dsc_name(self) -> str:
        upstream_and_revision = self.version.split(":", 1)[-1]  # the epoch is not in file names
        return f"{self.package}_{upstream_and_revision}.dsc"

    @property
    def snapshot_url(self) -> str:
        return f"https://snapshot.debian.org/package/{self.package}/{self.version}/"


PINNED = DebianSource("qemu", "1:7.2+dfsg-7+deb12u18",
                      "6b6bd27b947ec89e40a1d6b26d9c9f3c698ca691da13163e0483f6061bbb20b3")
EMULATORS = ("qemu-arm", "qemu-aarch64")
CONFIGURE_FLAGS = ("--target-list=arm-linux-user,aarch64-linux-user", "--enable-plugins", "--disable-system",
                   "--disable-tools", "--disable-docs", "--disable-install-blobs", "--disable-debug-info")
MIN_MESON = (0, 61, 5)  # QEMU 7.2's configure refuses anything older
CHOICE_ENV = "EDGEBENCH_QEMU"
RECORD_NAME = "qemu.json"
SETUP_HINT = "scripts/setup.sh installs what the build needs"
SYSTEM_HINT = f"or set {CHOICE_ENV}=system to count with the qemu-user on PATH"


@dataclass(frozen=True)
class CountingQemu:
    """The emulator every count runs under, as a run records it."""

    name: str  # "qemu-arm" or "qemu-aarch64"
    path: Path
    version: str  # first line of `--version`
    key: str  # pinned: sha256 of the build inputs; system: "system-" + sha256 of the binary
    source: str  # "pinned" (edgebench's build of PINNED) or "system" (EDGEBENCH_QEMU=system)


def emulator_choice() -> str:
    """'pinned' (the default) or 'system', from EDGEBENCH_QEMU."""
    choice = os.environ.get(CHOICE_ENV, "").strip() or "pinned"
    if choice not in ("pinned", "system"):
        raise EdgebenchError(f"{CHOICE_ENV}={choice!r} is neither 'pinned' nor 'system'",
                             hint=f"unset it to count with edgebench's QEMU {PINNED.version} build")
    return choice


def pinned_key(source: DebianSource = PINNED, flags: Sequence[str] = CONFIGURE_FLAGS) -> str:
    material = {"package": source.package, "version": source.version, "dsc_sha256": source.dsc_sha256,
                "configure": list(flags)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def counting_qemu(name: str, *, progress: bool = True) -> CountingQemu:
    """The emulator `name` counts run under: the pinned build (built once, minutes) or, opted out, PATH's."""
    if name not in EMULATORS:
        raise EdgebenchError(f"no counting emulator {name!r}", hint=f"one of {', '.join(EMULATORS)}")
    if emulator_choice() == "system":
        return _system(name)
    key = pinned_key()
    entry = _qemu_dir() / key[:16]
    record = _load_record(entry)
    if record is None:
        with exclusive(_qemu_dir() / "locks" / f"{key[:16]}.lock"):
            record = _load_record(entry) or _build(entry, key, progress=progress)  # another process may have won
    return CountingQemu(name=name, path=entry / name, version=record["versions"][name], key=key, source="pinned")


def missing_counting_qemu(name: str) -> str | None:
    """What is missing before `name` can run counts now (nothing is built here), or None when it is ready."""
    if emulator_choice() == "system":
        return None if shutil.which(name) else f"{name} not installed ({CHOICE_ENV}=system: apt-get install qemu-user)"
    if _load_record(_qemu_dir() / pinned_key()[:16]) is None:
        return f"the counting QEMU {PINNED.version} is not built yet (the first run builds it: a few minutes)"
    return None


def resolve_emulator_argv(argv: Sequence[str]) -> list[str]:
    """`argv` with a bare "qemu-arm" / "qemu-aarch64" in front replaced by the counting emulator's path;
    anything else (a path, another program) is left as given."""
    argv = list(argv)
    if argv and argv[0] in EMULATORS:
        argv[0] = str(counting_qemu(argv[0]).path)
    return argv


def _system(name: str) -> CountingQemu:
    exe = shutil.which(name)
    if exe is None:
        raise EdgebenchError(f"{CHOICE_ENV}=system but {name} is not on PATH",
                             hint=f"install Debian 12's qemu-user, or unset {CHOICE_ENV} to count with "
                                  f"edgebench's QEMU {PINNED.version} build")
    return CountingQemu(name=name, path=Path(exe), version=_version_line(exe),
                        key="system-" + _sha256_file(Path(exe)), source="system")


def _version_line(exe: str | Path) -> str:
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0].strip() if out else ""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _qemu_dir() -> Path:
    path = cache_dir() / "qemu"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load_record(entry: Path) -> dict | None:
    record = entry / RECORD_NAME
    if not record.exists() or not all((entry / name).exists() for name in EMULATORS):
        return None
    return json.loads(record.read_text())


# ---- the build: tools, source, configure + ninja, publish ----

@dataclass(frozen=True)
class _Tools:
    meson: str
    compiler: str  # first line of `cc --version`, recorded
    meson_version: str


def _meson() -> str | None:
    # The one pip installed for this interpreter first: pyenv-style shims may not list it on PATH yet.
    beside = Path(sys.executable).parent / "meson"
    return str(beside) if beside.exists() else shutil.which("meson")


def _require_tools(need_apt: bool) -> _Tools:
    needed = {"cc": "gcc", "ninja": "ninja-build", "pkg-config": "pkg-config", "dpkg-source": "dpkg-dev"}
    if need_apt:
        needed["apt-get"] = "apt"
    missing = [package for tool, package in needed.items() if shutil.which(tool) is None]
    if shutil.which("pkg-config") and subprocess.run(["pkg-config", "--exists", "glib-2.0"]).returncode != 0:
        missing.append("libglib2.0-dev")
    meson = _meson()
    meson_version = ""
    if meson is not None:
        meson_version = subprocess.run([meson, "--version"], capture_output=True, text=True).stdout.strip()
    numbers = tuple(int(n) for n in re.findall(r"\d+", meson_version)[:3])
    if meson is None or numbers < MIN_MESON:
        missing.append("meson>=0.61.5 (pip install meson==0.63.3)")
    if missing:
        raise EdgebenchError(f"cannot build the counting QEMU {PINNED.version}: missing {', '.join(missing)}",
                             hint=f"{SETUP_HINT}; {SYSTEM_HINT}")
    return _Tools(meson=meson, compiler=_version_line("cc"), meson_version=meson_version)


def _source_dir() -> Path:
    return _qemu_dir() / "source"


def _cached_dsc() -> Path | None:
    dsc = _source_dir() / PINNED.dsc_name
    return dsc if dsc.exists() and _sha256_file(dsc) == PINNED.dsc_sha256 else None


def _fetch_source() -> Path:
    """The pinned .dsc (and its tarballs beside it) in <cache>/qemu/source/, downloaded by apt if absent."""
    cached = _cached_dsc()
    if cached is not None:
        return cached
    source = _source_dir()
    source.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="download.", dir=_qemu_dir()))
    try:
        proc = subprocess.run(["apt-get", "source", "--download-only", "-qq",
                               f"{PINNED.package}={PINNED.version}"],
                              cwd=staging, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise _download_error(proc.stderr)
        dsc = staging / PINNED.dsc_name
        if not dsc.exists() or _sha256_file(dsc) != PINNED.dsc_sha256:
            raise EdgebenchError(f"apt's {PINNED.dsc_name} does not match the pinned sha256 "
                                 f"{PINNED.dsc_sha256[:16]}…", hint=f"the pin is {PINNED.snapshot_url}; {SYSTEM_HINT}")
        for path in sorted(staging.iterdir(), key=lambda p: p.suffix == ".dsc"):  # the .dsc last: it marks done
            os.replace(path, source / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return source / PINNED.dsc_name


def _download_error(stderr: str) -> EdgebenchError:
    errors = [ln[2:].strip() for ln in stderr.splitlines() if ln.startswith("E:")]
    said = errors[-1] if errors else (stderr.strip().splitlines() or ["no output"])[-1]
    manual = (f"put the three files of {PINNED.snapshot_url} into {_source_dir()} (checked against the pinned "
              f"sha256); {SYSTEM_HINT}")
    if "deb-src" in stderr:
        return EdgebenchError(f"no deb-src entry: apt cannot fetch the QEMU {PINNED.version} source ({said})",
                              hint=f"{SETUP_HINT} (a bookworm deb-src entry), then apt-get update; or {manual}")
    if "Can not find version" in stderr or "Unable to find a source package" in stderr:
        return EdgebenchError(f"apt offers no qemu {PINNED.version} source: Debian's pool has moved on or no "
                              f"bookworm deb-src entry is configured ({said})", hint=manual)
    return EdgebenchError(f"apt-get source {PINNED.package}={PINNED.version} failed: {said}", hint=manual)


def _build(entry: Path, key: str, *, progress: bool, jobs: int = 2) -> dict:
    tools = _require_tools(need_apt=_cached_dsc() is None)
    print(f"building the counting QEMU 7.2 for arm/aarch64 ({PINNED.version}): a few minutes the first time, "
          "cached after", file=sys.stderr, flush=True)
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=entry.name + ".", suffix=".tmp", dir=_qemu_dir()))
    try:
        dsc = _fetch_source()
        src, build = staging / "src", staging / "build"
        build.mkdir()
        # The pkgversion names the build in every `--version` a run records (derived from the key, not in it).
        pkgversion = f"--with-pkgversion=edgebench {key[:12]}, Debian {PINNED.version}"
        with progress_display(progress) as bar:
            stages = Stages(bar, staging, label="counting QEMU", what="building the counting QEMU",
                            kept_logs=_qemu_dir() / "logs", errors=r"\berror\b|ERROR:|not found", hint=SYSTEM_HINT)
            stages.run("unpack", ["dpkg-source", "--no-copy", "-x", str(dsc), str(src)])
            stages.run("configure", [str(src / "configure"), *CONFIGURE_FLAGS, f"--meson={tools.meson}", pkgversion],
                       cwd=build)
            stages.run("build", ["ninja", "-j", str(jobs), *EMULATORS], cwd=build)
        for name in EMULATORS:
            shutil.copy2(build / name, staging / name)
        record = {"versions": {name: _version_line(staging / name) for name in EMULATORS},
                  "debian_version": PINNED.version, "dsc_sha256": PINNED.dsc_sha256, "key": key,
                  "configure": list(CONFIGURE_FLAGS), "compiler": tools.compiler, "meson": tools.meson_version,
                  "build_seconds": round(time.monotonic() - started, 1),
                  "built_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        shutil.rmtree(src)
        shutil.rmtree(build)
        for log in staging.glob("*.log"):
            log.unlink()
        (staging / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
        try:
            os.rename(staging, entry)  # atomic: a reader sees no entry or a whole one
        except OSError:
            if _load_record(entry) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record
