"""Build (or find in the cache) a runtime: a static libncnn plus edgebench-runner for one arch.

Two cache levels under <cache>/runtimes/: the NCNN install (keyed by NCNN version, arch, toolchain, compiler,
options, layer list) and the runner (that key plus the runner's source). Editing the runner rebuilds only the
runner. Everything is built next to its final place and renamed into it, so an interrupted build never leaves a
half entry; a warm call reads one JSON file and runs no CMake at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from edgebench.ncnn_tools.archs import COMMON_OPTIONS, PROFILE_OPTIONS, ArchSpec, arch_spec
from edgebench.ncnn_tools.elf_check import require_no_vfpv4
from edgebench.ncnn_tools.layers import layer_options
from edgebench.ncnn_tools.source import PINNED, source_tree
from edgebench.ncnn_tools.stages import Stages, exclusive, progress_display
from edgebench.paths import cache_dir

RUNNER_SOURCE_DIR = Path(__file__).parent / "runner"
RUNNER_NAME = "edgebench-runner"
RECORD_NAME = "runtime.json"


@dataclass(frozen=True)
class Runtime:
    """A built runtime for one arch, as the rest of edgebench sees it."""

    arch: str
    key: str  # sha256 of everything that went into the binary; runs from different keys never mix
    runner: Path  # the statically linked edgebench-runner
    ncnn_prefix: Path  # the NCNN install it links (include/, lib/libncnn.a, lib/cmake/ncnn)
    ncnn_version: str
    compiler: str  # first line of `<c++> --version`
    toolchain_flags: str  # the arch's -march/-mfpu/... ("" for the host's defaults)
    cmake_options: tuple[str, ...]  # NCNN options on top of the layer switches
    kept_layers: tuple[str, ...]
    build_seconds: float  # how long the build that produced it took
    built_utc: str
    profile: bool = False  # NCNN_BENCHMARK=ON: reports per-layer times, never the timed runtime
    from_cache: bool = False  # True when this call found it built


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _compiler_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def _toolchain_flags(spec: ArchSpec) -> str:
    if spec.toolchain is None:
        return ""
    match = re.search(r'CMAKE_CXX_FLAGS_INIT\s+"([^"]*)"', spec.toolchain.read_text())
    return match.group(1) if match else ""


def _runner_sources() -> list[Path]:
    return sorted(p for p in RUNNER_SOURCE_DIR.iterdir() if p.is_file() and p.suffix in (".cpp", ".h", ".txt"))


@dataclass(frozen=True)
class _Keys:
    library: str
    runtime: str
    compiler: str


def _ncnn_options(spec: ArchSpec, profile: bool) -> tuple[str, ...]:
    return (*COMMON_OPTIONS, *spec.ncnn_options, *(PROFILE_OPTIONS if profile else ()))


def _keys(spec: ArchSpec, profile: bool) -> _Keys:
    compiler = _compiler_version(spec.cxx_compiler)
    library_material = {
        "ncnn_version": PINNED.version,
        "sdist_sha256": PINNED.sha256,
        "arch": spec.name,
        "toolchain": spec.toolchain.read_text() if spec.toolchain else "",
        "compiler": compiler,
        "options": list(_ncnn_options(spec, profile)),
        "layers": list(spec.kept_layers),
    }
    library = _sha256_text(json.dumps(library_material, sort_keys=True))
    runner = hashlib.sha256(library.encode())
    for path in _runner_sources():
        runner.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return _Keys(library=library, runtime=runner.hexdigest(), compiler=compiler)


def _runtimes_dir() -> Path:
    path = cache_dir() / "runtimes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _entry_dir(kind: str, arch: str, key: str) -> Path:
    return _runtimes_dir() / f"{kind}-{arch}-{key[:16]}"


def _load_record(entry: Path) -> Runtime | None:
    record = entry / RECORD_NAME
    if not record.exists() or not (entry / RUNNER_NAME).exists():
        return None
    data = json.loads(record.read_text())
    root = _runtimes_dir()
    return Runtime(**{**data, "runner": root / data["runner"], "ncnn_prefix": root / data["ncnn_prefix"],
                      "cmake_options": tuple(data["cmake_options"]), "kept_layers": tuple(data["kept_layers"]),
                      "from_cache": True})


def _write_record(entry: Path, runtime: Runtime) -> None:
    data = dataclasses.asdict(runtime)
    del data["from_cache"]
    # Relative to the runtimes folder, so a moved cache (EDGEBENCH_CACHE) stays valid.
    data["runner"] = str(runtime.runner.relative_to(_runtimes_dir()))
    data["ncnn_prefix"] = str(runtime.ncnn_prefix.relative_to(_runtimes_dir()))
    (entry / RECORD_NAME).write_text(json.dumps(data, indent=2) + "\n")


def _publish(staging: Path, final: Path) -> None:
    """Rename a finished staging folder into place, replacing an older entry (--force) atomically enough."""
    trash = None
    if final.exists():
        trash = final.with_name(final.name + f".old-{os.getpid()}")
        os.rename(final, trash)
    try:
        os.rename(staging, final)
    except OSError:
        if not final.exists():  # not merely another process publishing the same key first
            raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _cmake_generator() -> list[str]:
    return ["-G", "Ninja"] if shutil.which("ninja") else ["-G", "Unix Makefiles"]


def _common_cmake_args(spec: ArchSpec) -> list[str]:
    args = _cmake_generator()
    if spec.toolchain is not None:
        args.append(f"-DCMAKE_TOOLCHAIN_FILE={spec.toolchain}")
    if shutil.which("ccache"):  # a rebuild after a cache wipe (or --force) then costs seconds
        args += ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    return args


def _build_library(spec: ArchSpec, key: str, options: tuple[str, ...], stages: Stages, jobs: int,
                   force: bool) -> Path:
    prefix = _entry_dir("ncnn", spec.name, key)
    if not force and (prefix / "lib" / "libncnn.a").exists():
        return prefix
    src = source_tree()
    # A fixed build folder per key (not a random one) so ccache sees the same paths on a rebuild.
    build = _runtimes_dir() / "build" / prefix.name
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix.name + ".", suffix=".tmp", dir=_runtimes_dir()))
    try:
        stages.run("configure ncnn", ["cmake", "-S", str(src), "-B", str(build), *_common_cmake_args(spec),
                                      f"-DNCNN_VERSION={PINNED.cmake_version}", *options,
                                      *layer_options(src, spec.kept_layers)])
        stages.run("build ncnn", ["cmake", "--build", str(build), "--parallel", str(jobs)])
        stages.run("install ncnn", ["cmake", "--install", str(build), "--prefix", str(staging)])
        _publish(staging, prefix)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
    return prefix


def _build_runner(spec: ArchSpec, prefix: Path, staging: Path, stages: Stages, jobs: int) -> Path:
    build = staging / "build"
    stages.run("configure runner", ["cmake", "-S", str(RUNNER_SOURCE_DIR), "-B", str(build),
                                    *_common_cmake_args(spec), "-DCMAKE_BUILD_TYPE=Release",
                                    f"-Dncnn_DIR={prefix / 'lib' / 'cmake' / 'ncnn'}", f"-DEB_ARCH={spec.name}"])
    stages.run("build runner", ["cmake", "--build", str(build), "--parallel", str(jobs)])
    runner = staging / RUNNER_NAME
    shutil.copy2(build / RUNNER_NAME, runner)
    shutil.rmtree(build)
    return runner


def build_runtime(arch: str, *, profile: bool = False, force: bool = False, jobs: int = 2,
                  progress: bool = True) -> Runtime:
    """The runtime for `arch` ("armv7", "aarch64" or "host"), built unless the cache already holds it.

    profile: the per-layer profiling variant (NCNN_BENCHMARK=ON), a runtime with keys of its own.
    force: rebuild the NCNN library and the runner even when cached (ccache still makes it quick).
    """
    spec = arch_spec(arch)
    spec.require_compilers()
    keys = _keys(spec, profile)
    entry = _entry_dir("runner", spec.name, keys.runtime)
    if not force:
        cached = _load_record(entry)
        if cached is not None:
            return cached
    # One builder per key at a time (the NCNN build folder is fixed per key); others wait, then find it.
    with exclusive(_runtimes_dir() / "locks" / f"{spec.name}-{keys.library[:16]}.lock"):
        cached = None if force else _load_record(entry)  # built by another process while we waited
        return cached or _build(spec, keys, profile, entry, force, jobs, progress)


def _build(spec: ArchSpec, keys: _Keys, profile: bool, entry: Path, force: bool, jobs: int,
           progress: bool) -> Runtime:
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=entry.name + ".", suffix=".tmp", dir=_runtimes_dir()))
    try:
        with progress_display(progress) as bar:
            if bar is not None:  # said before minutes of compiling (a bar per stage follows)
                bar.console.print(f"building the NCNN runtime for {spec.name}: a few minutes the first time, "
                                  "cached after")
            stages = Stages(bar, staging, label=spec.name, what=f"{spec.name} runtime build",
                            kept_logs=_runtimes_dir() / "logs" / spec.name)
            options = _ncnn_options(spec, profile)
            prefix = _build_library(spec, keys.library, options, stages, jobs, force)
            staged_runner = _build_runner(spec, prefix, staging, stages, jobs)
            if spec.check_no_vfpv4:
                require_no_vfpv4(staged_runner)
        for log in staging.glob("*.log"):
            log.unlink()
        runtime = Runtime(
            arch=spec.name, key=keys.runtime, runner=entry / RUNNER_NAME, ncnn_prefix=prefix,
            ncnn_version=PINNED.version, compiler=keys.compiler, toolchain_flags=_toolchain_flags(spec),
            cmake_options=options, kept_layers=spec.kept_layers, profile=profile,
            build_seconds=round(time.monotonic() - started, 1),
            built_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        _write_record(staging, runtime)
        _publish(staging, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return runtime
