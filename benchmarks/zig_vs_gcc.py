"""Experiment (issue 12, item 5): would a hermetic zig toolchain make a better armv7 runtime than Debian's
cross gcc? Builds NCNN + edgebench-runner with `zig c++ -target arm-linux-musleabihf -mcpu=cortex_a9` twice,
in two different folders with different HOME / zig caches / source and build paths (two hosts cannot be had),
compares the binaries byte for byte, then counts the zig runner and edgebench's gcc runner (build_runtime)
under exactly the conditions edgebench counts with (benchmarks/calibration.py's _count_one: the imx6 device's
launcher and system view, its cache geometry, 1 warm-up + 1 timed iteration, 1 thread) and prints a table.

It installs nothing. It needs the ziglang wheel (a hermetic clang + musl + libc++ cross toolchain):

    pip install ziglang==0.17.0
    python benchmarks/zig_vs_gcc.py                                 # mobilenet, shufflenet, squeezenet_int8
    python benchmarks/zig_vs_gcc.py --models mobilenet --reps 3 --scratch /tmp/zig-exp
    python benchmarks/zig_vs_gcc.py --scratch /tmp/zig-exp          # again: reuses both zig builds, counts only

NCNN is configured with the same option lists ncnn_tools/build.py gives the armv7 build (imported, not
copied: COMMON_OPTIONS, ARMV7.ncnn_options, layer_options over ARMV7.kept_layers) and a toolchain file of our
own in the scratch folder whose compilers are wrapper scripts around the wheel's `zig cc` / `zig c++`
(and `zig ar` / `zig ranlib`), with the flags of ncnn_tools/toolchains/armv7.cmake (-mfloat-abi=hard
-mfpu=neon -marm; -mcpu=cortex_a9 instead of -march=armv7-a). No ccache, so the build times are real.
The runner is built from a copy of ncnn_tools/runner (unchanged) in each folder.

Binaries compared: the runner as zig links it ("raw"), the runner with its debug sections removed by
`zig objcopy --strip-debug` (symbols, and so the ARM mapping symbols the counting plugin reads, are kept;
this is what gets counted) and libncnn.a. Wall and CPU time are the host's for the whole QEMU process
(load, first inference, warm-up, timed iteration); each (runner, model) runs --reps times, alternating
gcc/zig, and the minimum is shown (the host is shared). Counts must be equal across reps. One extra count
(first model) runs the zig runner from a longer path with a 3 KB environment variable, to see whether the
runner's heap/stack pinning in main() still makes the miss counts path- and environment-independent on musl.
This is an experiment: nothing here changes edgebench's runtime.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgebench.boards.devices import PACKAGED_DEVICES, parse_devices_file
from edgebench.errors import EdgebenchError
from edgebench.boards.board import board_for
from edgebench.ncnn_tools.archs import ARMV7, COMMON_OPTIONS
from edgebench.ncnn_tools.build import RUNNER_NAME, RUNNER_SOURCE_DIR, build_runtime
from edgebench.ncnn_tools.elf_check import arm_attributes, require_no_vfpv4
from edgebench.ncnn_tools.layers import layer_options
from edgebench.ncnn_tools.plugin import build_plugin
from edgebench.ncnn_tools.reference import REFERENCE_DIR
from edgebench.ncnn_tools.source import PINNED, source_tree

HERE = Path(__file__).resolve().parent
ZIG_VERSION = "0.17.0"
TARGET = ("-target", "arm-linux-musleabihf", "-mcpu=cortex_a9")
FLAGS = "-mfloat-abi=hard -mfpu=neon -marm"  # as ncnn_tools/toolchains/armv7.cmake, -march from -mcpu
DEFAULT_MODELS = ("mobilenet", "shufflenet", "squeezenet_int8")
# Two builds that differ in everything host-side a build can see: folder depth and name, HOME, zig's caches,
# where the NCNN and runner sources sit.
BUILD_FOLDERS = ("a", "b-second-host/with/a/longer/path")


def calibration_script():
    spec = importlib.util.spec_from_file_location("edgebench_calibration", HERE / "calibration.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def zig_exe() -> Path:
    try:
        import ziglang
    except ImportError:
        raise EdgebenchError("the ziglang wheel is not installed", hint=f"pip install ziglang=={ZIG_VERSION}")
    exe = Path(ziglang.__file__).parent / "zig"
    version = subprocess.run([str(exe), "version"], capture_output=True, text=True, check=True).stdout.strip()
    if version != ZIG_VERSION:
        print(f"note: zig {version}, this experiment was written for {ZIG_VERSION}", file=sys.stderr)
    return exe


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_sha256(folder: Path) -> str:
    """The sources a build took (the repo's working tree can change between the two builds)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def openmp_status(folder: Path) -> str:
    """What NCNN's find_package(OpenMP) made of zig (from the build log)."""
    lines = (folder / "build.log").read_text(errors="replace").splitlines()
    found = [ln.strip("- ").strip() for ln in lines if "OpenMP" in ln and ln.startswith("-- ")]
    return "; ".join(found) or "OpenMP not searched"


def _write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def write_toolchain(folder: Path, zig: Path) -> Path:
    """Wrapper scripts (CMake wants one executable per compiler) and a toolchain file, in `folder`."""
    bindir = folder / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    target = " ".join(TARGET)
    _write_exe(bindir / "zig-cc", f'#!/bin/sh\nexec "{zig}" cc {target} "$@"\n')
    _write_exe(bindir / "zig-c++", f'#!/bin/sh\nexec "{zig}" c++ {target} "$@"\n')
    _write_exe(bindir / "zig-ar", f'#!/bin/sh\nexec "{zig}" ar "$@"\n')
    _write_exe(bindir / "zig-ranlib", f'#!/bin/sh\nexec "{zig}" ranlib "$@"\n')
    toolchain = folder / "zig-armv7.cmake"
    toolchain.write_text(f"""set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(CMAKE_C_COMPILER {bindir / 'zig-cc'})
set(CMAKE_CXX_COMPILER {bindir / 'zig-c++'})
set(CMAKE_AR {bindir / 'zig-ar'} CACHE FILEPATH "")
set(CMAKE_RANLIB {bindir / 'zig-ranlib'} CACHE FILEPATH "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_C_FLAGS_INIT "{FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "{FLAGS}")
""")
    return toolchain


def _run(cmd: list[str], log: Path, env: dict, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(map(str, cmd)) + "\n")
        out.flush()
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd).returncode
    if code != 0:
        lines = log.read_text(errors="replace").splitlines()
        errors = [ln for ln in lines if "error" in ln.lower()] or lines[-5:]
        raise EdgebenchError(f"zig build failed: {' '.join(map(str, cmd[:4]))} ... (exit {code}): "
                             f"{errors[0][:300] if errors else 'no output'}", hint=f"full log: {log}")


def build_with_zig(folder: Path, zig: Path, jobs: int, rebuild: bool) -> dict:
    """NCNN + the runner with zig in `folder` (own HOME, zig caches, source copies); its record."""
    record_file = folder / "build.json"
    if record_file.exists() and not rebuild:
        return json.loads(record_file.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    home = folder / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "ZIG_GLOBAL_CACHE_DIR": str(home / ".cache" / "zig"), "ZIG_LOCAL_CACHE_DIR": str(folder / "zig-local")}
    for var in ("CCACHE_DIR", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS"):
        env.pop(var, None)
    log = folder / "build.log"
    toolchain = write_toolchain(folder, zig)
    src = folder / "src" / f"ncnn-{PINNED.version}"
    shutil.copytree(source_tree(), src, symlinks=True)
    runner_src = folder / "src" / "runner"
    shutil.copytree(RUNNER_SOURCE_DIR, runner_src)
    options = [*COMMON_OPTIONS, *ARMV7.ncnn_options]
    generator = ["-G", "Ninja"] if shutil.which("ninja") else ["-G", "Unix Makefiles"]
    ncnn_build, prefix, runner_build = folder / "ncnn-build", folder / "ncnn-install", folder / "runner-build"
    started = time.monotonic()
    _run(["cmake", "-S", str(src), "-B", str(ncnn_build), *generator, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
          f"-DNCNN_VERSION={PINNED.cmake_version}", *options, *layer_options(src, ARMV7.kept_layers)], log, env)
    _run(["cmake", "--build", str(ncnn_build), "--parallel", str(jobs)], log, env)
    ncnn_seconds = time.monotonic() - started
    _run(["cmake", "--install", str(ncnn_build), "--prefix", str(prefix)], log, env)
    _run(["cmake", "-S", str(runner_src), "-B", str(runner_build), *generator, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
          "-DCMAKE_BUILD_TYPE=Release", f"-Dncnn_DIR={prefix / 'lib' / 'cmake' / 'ncnn'}", "-DEB_ARCH=armv7"],
         log, env)
    _run(["cmake", "--build", str(runner_build), "--parallel", str(jobs)], log, env)
    seconds = time.monotonic() - started
    raw = folder / f"{RUNNER_NAME}.raw"
    shutil.copy2(runner_build / RUNNER_NAME, raw)
    record = {"folder": str(folder), "seconds": round(seconds, 1), "ncnn_seconds": round(ncnn_seconds, 1),
              "options": options, "runner_source_sha256": tree_sha256(runner_src),
              "sha256_libncnn": sha256(prefix / "lib" / "libncnn.a"),
              "compiler": subprocess.run([str(zig), "c++", "--version"], capture_output=True, text=True,
                                         env=env).stdout.splitlines()[0]}
    record_file.write_text(json.dumps(record, indent=1) + "\n")
    return record


def strip_tool() -> list[str]:
    """`zig objcopy --strip-debug` answers "error: unimplemented" on these 32-bit ARM ELFs (zig 0.17.0), and
    zig's -Wl,--strip-debug drops the whole symbol table (the mapping symbols the plugin reads with it), so the
    debug sections are removed with an objcopy from the host (not hermetic: only for this experiment)."""
    for exe in ("llvm-objcopy", "arm-linux-gnueabihf-objcopy"):
        if shutil.which(exe):
            return [exe, "--strip-debug"]
    raise EdgebenchError("no llvm-objcopy or arm-linux-gnueabihf-objcopy to remove the runner's debug sections",
                         hint="apt-get install llvm (or binutils-arm-linux-gnueabihf)")


def finish(record: dict, zig: Path) -> dict:
    """The counted runner (debug sections removed, symbols kept) and the hashes of both forms."""
    folder = Path(record["folder"])
    raw, runner = folder / f"{RUNNER_NAME}.raw", folder / RUNNER_NAME
    subprocess.run([*strip_tool(), str(raw), str(runner)], check=True)
    require_no_vfpv4(runner)
    data = raw.read_bytes()
    home = folder / "home"
    return {**record, "runner": str(runner), "sha256_raw": sha256(raw), "sha256_runner": sha256(runner),
            "size_raw": raw.stat().st_size, "size_runner": runner.stat().st_size,
            "embedded_paths": {str(p): data.count(str(p).encode()) for p in (folder, home, zig.parent)},
            "strip": " ".join(strip_tool())}


def count(calib, job, runner: Path, launcher, caches) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry = calib._count_one(job, runner, launcher, caches, {})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry["cpu_seconds"] = round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1)
    if "error" in entry:
        raise EdgebenchError(f"{job.model} with {runner}: {entry['error']}")
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="reference params (stems)")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="folder for both zig builds (default: a new temporary folder); kept")
    parser.add_argument("--rebuild", action="store_true", help="rebuild zig builds found in --scratch")
    parser.add_argument("--reps", type=int, default=2, help="runs per (runner, model), alternating; min shown")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)

    zig = zig_exe()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="eb-zig-vs-gcc-"))
    scratch.mkdir(parents=True, exist_ok=True)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if not (REFERENCE_DIR / f"{m}.param").exists():
            raise EdgebenchError(f"no reference param {m}.param in {REFERENCE_DIR}")

    builds = []
    for name in BUILD_FOLDERS:
        print(f"zig build in {scratch / name} ...", flush=True)
        builds.append(finish(build_with_zig(scratch / name, zig, args.jobs, args.rebuild), zig))
        print(f"  {builds[-1]['seconds']:.0f} s", flush=True)

    print("gcc runtime (build_runtime('armv7')) ...", flush=True)
    gcc = build_runtime("armv7", progress=False, jobs=args.jobs)
    calib = calibration_script()
    device = parse_devices_file(PACKAGED_DEVICES)["imx6"]
    target = calib.TARGETS["cortex-a9"]
    launcher = board_for(device).launcher
    build_plugin(device.emulator.argv[0])
    caches = device.cache
    runners = {"gcc": gcc.runner, "zig": Path(builds[0]["runner"])}

    results: dict[str, dict[str, list[dict]]] = {m: {"gcc": [], "zig": []} for m in models}
    for model in models:
        job = calib.CountJob(model, REFERENCE_DIR / f"{model}.param", target, device, "")
        for rep in range(args.reps):
            for kind in ("gcc", "zig"):
                entry = count(calib, job, runners[kind], launcher, caches)
                results[model][kind].append(entry)
                print(f"  {model:16s} {kind} rep {rep + 1}: {entry['counts']['instructions']:,} instructions, "
                      f"{entry['seconds']} s wall, {entry['cpu_seconds']} s cpu", flush=True)
        for kind in ("gcc", "zig"):
            if any(e["counts"] != results[model][kind][0]["counts"] for e in results[model][kind]):
                raise EdgebenchError(f"{model} ({kind}): counts differ between repetitions")

    # Path/environment independence of the zig (musl) runner's counts: longer path, 3 KB more environment.
    moved = scratch / "moved" / ("x" * 120) / RUNNER_NAME
    moved.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(runners["zig"], moved)
    os.environ["EB_ZIG_PAD"] = "p" * 3000
    try:
        job = calib.CountJob(models[0], REFERENCE_DIR / f"{models[0]}.param", target, device, "")
        moved_counts = count(calib, job, moved, launcher, caches)["counts"]
    finally:
        del os.environ["EB_ZIG_PAD"]
    base_counts = results[models[0]]["zig"][0]["counts"]
    moved_diff = {k: (base_counts[k], v) for k, v in moved_counts.items() if base_counts[k] != v}

    # ---- report
    def pct(a, b):
        return f"{b / a:.3f}" if a else "-"

    print()
    print(f"gcc: {gcc.compiler}  runtime {gcc.key[:16]}  ({gcc.toolchain_flags})")
    print(f"zig: {builds[0]['compiler']}  zig {ZIG_VERSION}  ({' '.join(TARGET)} {FLAGS}, static musl)")
    print(f"NCNN options (both): {' '.join(builds[0]['options'])}")
    print(f"OpenMP in the zig NCNN build: {openmp_status(Path(builds[0]['folder']))}")
    print(f"gcc runtime's options: {' '.join(gcc.cmake_options)}")
    print()
    head = (f"{'model':16s} {'instr gcc':>13s} {'instr zig':>13s} {'zig/gcc':>7s} {'L1D gcc':>10s} {'L1D zig':>10s} "
            f"{'L2 gcc':>10s} {'L2 zig':>10s} {'zig/gcc':>7s} {'wall gcc':>8s} {'wall zig':>8s} "
            f"{'cpu gcc':>7s} {'cpu zig':>7s} {'emu-ms gcc':>10s} {'emu-ms zig':>10s}")
    print(head)
    print("-" * len(head))
    for model in models:
        g, z = results[model]["gcc"], results[model]["zig"]
        gc, zc = g[0]["counts"], z[0]["counts"]
        wall = [min(e["seconds"] for e in r) for r in (g, z)]
        cpu = [min(e["cpu_seconds"] for e in r) for r in (g, z)]
        emu = [min(e["emulated_iteration_ms"] for e in r) for r in (g, z)]
        print(f"{model:16s} {gc['instructions']:13,} {zc['instructions']:13,} {pct(gc['instructions'], zc['instructions']):>7s} "
              f"{gc['l1d_misses']:10,} {zc['l1d_misses']:10,} {gc['l2_misses']:10,} {zc['l2_misses']:10,} "
              f"{pct(gc['l2_misses'], zc['l2_misses']):>7s} {wall[0]:7.1f}s {wall[1]:7.1f}s {cpu[0]:6.1f}s {cpu[1]:6.1f}s "
              f"{emu[0]:10.0f} {emu[1]:10.0f}")
    print("(counts: the timed iteration; wall/cpu: the host's, whole QEMU process, min of "
          f"{args.reps}; emu-ms: the runner's own timed-iteration clock under QEMU)")
    print()
    for b in builds:
        print(f"zig build {b['folder']}: {b['seconds']:.0f} s (NCNN {b['ncnn_seconds']:.0f} s, from empty zig "
              f"caches, -j{args.jobs})")
        print(f"  runner ({b['strip']}) {b['sha256_runner']}  {b['size_runner']:,} B")
        print(f"  runner (as zig links it)          {b['sha256_raw']}  {b['size_raw']:,} B")
        print(f"  libncnn.a                         {b['sha256_libncnn']}")
        print(f"  own paths inside the as-linked runner: "
              + ", ".join(f"{p}: {n}" for p, n in b["embedded_paths"].items()))
    a, b = builds
    if a.get("runner_source_sha256") != b.get("runner_source_sha256") or a["options"] != b["options"]:
        print("WARNING: the two builds took different runner sources or NCNN options (the working tree changed)")
    for what in ("sha256_runner", "sha256_raw", "sha256_libncnn"):
        print(f"{what[7:]:>8s}: {'IDENTICAL' if a[what] == b[what] else 'DIFFERENT'} across the two builds")
    print(f"gcc runtime build (edgebench's record, with ccache): {gcc.build_seconds} s; gcc runner "
          f"sha256 {sha256(gcc.runner)}")
    print(f"zig runner from a longer path with 3 KB more environment ({models[0]}): "
          + ("every field equal" if not moved_diff else f"differs: {moved_diff}"))
    attrs = [ln.strip() for ln in arm_attributes(runners["zig"]).splitlines()
             if ln.strip().startswith(("Tag_CPU_name", "Tag_FP_arch", "Tag_Advanced_SIMD_arch"))]
    print(f"zig runner attributes: {'; '.join(attrs)}")
    if args.json:
        args.json.write_text(json.dumps({"builds": builds, "results": results, "moved_diff": moved_diff,
                                         "gcc": {"key": gcc.key, "compiler": gcc.compiler,
                                                 "build_seconds": gcc.build_seconds}}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EdgebenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(exc, "hint", None):
            print(f"hint: {exc.hint}", file=sys.stderr)
        sys.exit(2)
