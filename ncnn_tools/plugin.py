"""The QEMU counting plugin: build it (cached), give QEMU its arguments, read back per-iteration counts.

The plugin (qemu_plugin/eb_counters.c, see its README.md) counts guest instructions by class, bytes loaded
and stored, and L1D/L1I/L2 misses of a cache model between the runner's iteration markers, and writes one
JSON line per closed iteration to a file. It needs a dynamic qemu-user with plugin API v1 (QEMU 7.2):
a bare "qemu-arm" / "qemu-aarch64" here always means edgebench's pinned build of Debian 12's QEMU 7.2
(qemu_build.py; EDGEBENCH_QEMU=system opts out to PATH's), and the plugin is keyed by that build.

    lib = build_plugin()
    cmd = ["qemu-arm", "-cpu", "cortex-a9", *plugin_args(out, IMX6_CACHES), runner, ...]  # edgebench.caches
    counts = parse_counts(out)          # list[IterationCounts], one per timed iteration, in order

With `plugin_args(..., symbols=True)` the plugin also attributes the timed windows' counts to the guest
functions (ELF symbols) holding the PC: `parse_function_counts(out)` -> list[FunctionCounts].
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from edgebench.caches import IMX6_CACHES, CacheGeometry
from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.qemu_build import EMULATORS, counting_qemu, resolve_emulator_argv
from edgebench.paths import cache_dir
from edgebench.results.result import COUNT_FIELDS, PER_FUNCTION_FIELDS, IterationCounts

PLUGIN_DIR = Path(__file__).parent / "qemu_plugin"
PLUGIN_SOURCE = PLUGIN_DIR / "eb_counters.c"
SELFTEST_SOURCE = PLUGIN_DIR / "selftest.c"
COUNTS_SCHEMA = "edgebench-counts/1"
QEMU_PACKAGE_HINT = ("count with edgebench's pinned QEMU 7.2 build (leave EDGEBENCH_QEMU unset), or install "
                     "Debian 12's qemu-user (sudo apt-get install qemu-user); qemu-user-static is built "
                     "without TCG plugin support")


def _emulator_exe(qemu: str) -> str:
    """The binary `qemu` runs: the counting emulator for a bare qemu-arm/qemu-aarch64, else PATH's."""
    exe = resolve_emulator_argv([qemu])[0]
    found = shutil.which(exe)
    if found is None:
        raise EdgebenchError(f"{qemu} not found on PATH: the counting plugin needs QEMU user-mode emulation",
                             hint=QEMU_PACKAGE_HINT)
    return found


def _qemu_version(qemu: str) -> str:
    if qemu in EMULATORS:
        return counting_qemu(qemu).version
    out = subprocess.run([_emulator_exe(qemu), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.splitlines()[0].strip() if out.stdout else ""


def require_plugin_support(qemu: str) -> None:
    """A clear error when `qemu` cannot load TCG plugins (e.g. qemu-user-static) or is not there at all."""
    exe = _emulator_exe(qemu)
    help_text = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=30).stdout
    if "-plugin" not in help_text:
        raise EdgebenchError(f"{exe} has no TCG plugin support (its -h lists no -plugin option)",
                             hint=QEMU_PACKAGE_HINT)


def build_plugin(qemu: str = "qemu-arm") -> Path:
    """The compiled plugin, built once per (plugin source, QEMU) under the edgebench cache.

    One library serves qemu-arm and qemu-aarch64 (the guest is detected at load); `qemu` only names the
    emulator that goes into the key: the counting emulator's key for a bare qemu-arm/qemu-aarch64, else
    the binary's version line.
    """
    source = PLUGIN_SOURCE.read_bytes()
    emulator = counting_qemu(qemu).key if qemu in EMULATORS else _qemu_version(qemu)
    key = hashlib.sha256(source + b"\0" + emulator.encode()).hexdigest()[:16]
    out_dir = cache_dir() / "qemu_plugin"
    lib = out_dir / f"eb_counters-{key}.so"
    if lib.exists():
        return lib
    if shutil.which("gcc") is None:
        raise EdgebenchError("gcc not found on PATH: cannot build the QEMU counting plugin",
                             hint="sudo apt-get install gcc")
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=lib.name, suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        proc = subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", tmp, str(PLUGIN_SOURCE)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise EdgebenchError(f"building the QEMU plugin failed: {proc.stderr.strip().splitlines()[-1:]}")
        os.replace(tmp, lib)  # atomic: a concurrent build or reader never sees half a library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def plugin_args(out_file: str | os.PathLike, caches: CacheGeometry | None = IMX6_CACHES, *,
                lib: Path | None = None, symbols: bool = False) -> list[str]:
    """The `-plugin lib.so,out=FILE,...` part of a qemu-arm/qemu-aarch64 command line.

    `caches=None` turns the cache model off (then the *_misses fields are absent and parse_counts refuses
    the file): only for measuring what the model costs. `symbols=True` adds the per-function record
    (parse_function_counts); without it the output is exactly what it was before that mode existed.
    """
    out = str(out_file)
    if "," in out:  # QEMU splits plugin arguments on commas, with no escape
        raise EdgebenchError(f"counts file path {out!r} contains a comma, which QEMU cannot pass to a plugin")
    parts = [str(lib or build_plugin()), f"out={out}"]
    if caches is None:
        parts.append("cache=off")
    else:
        if caches.l2 is None:
            raise EdgebenchError("the cache model needs an L2 geometry (devices.yaml cache: l2)")
        for name, level in caches.levels():
            if (problem := level.problem()) is not None:
                raise EdgebenchError(f"cache {name}: {problem}",
                                     hint="the line size and the number of sets (size / (ways * line)) must be powers of two")
            parts.append(f"{name}={level.arg()}")
    if symbols:
        parts.append("symbols=on")
    return ["-plugin", ",".join(parts)]


def _records(path: Path) -> list[dict]:
    if not path.exists():
        raise EdgebenchError(f"no counts file {path}: QEMU did not load the counting plugin",
                             hint="look at QEMU's stderr; " + QEMU_PACKAGE_HINT)
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise EdgebenchError(f"{path}:{n}: truncated or corrupt counts record: {line[:80]!r}") from None
        if not isinstance(record, dict) or "kind" not in record:
            raise EdgebenchError(f"{path}:{n}: not a counts record: {line[:80]!r}")
        records.append(record)
    return records


def parse_counts(path: str | os.PathLike) -> list[IterationCounts]:
    """Per-iteration counts from the plugin's output file, in iteration order; a clear error for anything
    incomplete (no markers, a thread, an iteration begun but not ended, a run that died, a cut file)."""
    path = Path(path)
    records = _records(path)
    if not records or records[0].get("kind") != "start":
        raise EdgebenchError(f"{path}: empty or not written by the counting plugin (no start record)")
    if records[0].get("schema") != COUNTS_SCHEMA:
        raise EdgebenchError(f"{path}: counts schema {records[0].get('schema')!r}, expected {COUNTS_SCHEMA!r}",
                             hint="rebuild the plugin (edgebench build) and count again")
    errors = [r.get("message", "?") for r in records if r["kind"] == "error"]
    if errors:
        raise EdgebenchError(f"{path}: the counting plugin reported: {errors[0]}"
                             + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    begins = [r for r in records if r["kind"] == "begin"]
    windows = [r for r in records if r["kind"] == "window"]
    done = [r for r in records if r["kind"] == "done"]
    if not begins and not done:
        raise EdgebenchError(f"{path}: no iteration markers seen: the program never called "
                             "prctl(0x45424E43, ...)", hint="count only an edgebench-runner built with markers")
    if not done:
        if len(begins) > len(windows):
            raise EdgebenchError(f"{path}: iteration {begins[-1].get('iteration')} began but its counts never "
                                 "came: the program died inside it or was cut short")
        raise EdgebenchError(f"{path}: counts incomplete after {len(windows)} iteration(s): the program never "
                             "marked the end of its timed section (did it die or time out?)")
    if done[0].get("windows") != len(windows):
        raise EdgebenchError(f"{path}: the plugin closed {done[0].get('windows')} iteration(s) but the file "
                             f"holds {len(windows)}")
    counts = []
    for expected, record in enumerate(windows):
        if record.get("iteration") != expected:
            raise EdgebenchError(f"{path}: counts for iteration {expected} missing "
                                 f"(found iteration {record.get('iteration')} in its place)")
        values = {name: record.get(name) for name in COUNT_FIELDS}
        missing = [name for name, v in values.items() if not isinstance(v, int)]
        if missing:
            raise EdgebenchError(f"{path}: iteration {expected} has no value for {', '.join(missing)}"
                                 + (" (counted with the cache model off)" if "l1d_misses" in missing else ""))
        counts.append(IterationCounts(**values))
    return counts


@dataclass(frozen=True)
class FunctionCounts:
    """One guest function's share of the timed windows (symbols=on), summed over `iterations` of them."""

    name: str | None  # the ELF symbol (mangled); None = code no symbol covers (e.g. QEMU's kuser helpers)
    address: int | None
    iterations: int
    instructions: int
    bytes_loaded: int
    bytes_stored: int
    l1d_misses: int
    l1i_misses: int
    l2_misses: int


def parse_function_counts(path: str | os.PathLike) -> list[FunctionCounts]:
    """Per-function totals over every timed iteration of a complete symbols=on counts file.

    Checked against the windows: every field summed over the functions must equal the same field summed
    over the iterations (the plugin attributes every counted event to exactly one function).
    """
    path = Path(path)
    windows = parse_counts(path)  # the file is complete and consistent, or a clear error
    records = [r for r in _records(path) if r["kind"] == "functions"]
    if not records:
        raise EdgebenchError(f"{path}: no per-function counts: counted without symbols=on",
                             hint="count with plugin_args(..., symbols=True)")
    record = records[-1]
    if record.get("symbols") == 0:
        raise EdgebenchError(f"{path}: the counted program has no function symbols (stripped?)",
                             hint="count an unstripped build of the runner")
    if record.get("iterations") != len(windows):
        raise EdgebenchError(f"{path}: per-function counts cover {record.get('iterations')} iteration(s), "
                             f"the windows {len(windows)}")
    try:
        functions = [FunctionCounts(name=f["name"], address=f["address"], iterations=len(windows),
                                    **{k: int(f[k]) for k in PER_FUNCTION_FIELDS}) for f in record["functions"]]
    except (KeyError, TypeError, ValueError):
        raise EdgebenchError(f"{path}: malformed per-function record (counted with the cache model off?)") from None
    for field in PER_FUNCTION_FIELDS:
        by_function = sum(getattr(f, field) for f in functions)
        by_window = sum(getattr(w, field) for w in windows)
        if by_function != by_window:
            raise EdgebenchError(f"{path}: {field} summed over functions ({by_function}) differs from the "
                                 f"windows' total ({by_window})")
    return functions


@dataclass
class CountedRun:
    """One program run under QEMU with the plugin: its exit status and output, and the counts file."""

    returncode: int
    stdout: str
    stderr: str
    counts_file: Path


def run_counted(qemu_cmd: Sequence[str], program: Sequence[str], counts_file: str | os.PathLike,
                caches: CacheGeometry | None = IMX6_CACHES, *, env: Mapping[str, str] | None = None,
                cwd: str | os.PathLike | None = None, timeout: float = 3600, symbols: bool = False,
                view_prefix: Sequence[str] = ()) -> CountedRun:
    """Run `program` under `qemu_cmd` (e.g. ["qemu-arm", "-cpu", "cortex-a9"]) with the counting plugin.

    `view_prefix` (edgebench.boards.launcher.Launcher.view_prefix) starts it inside the board's system view.

    A bare qemu-arm/qemu-aarch64 runs the counting emulator (resolve_emulator_argv). A QEMU that cannot
    load the plugin, or a plugin that refuses to start, is a clear error here; whether the counts are
    complete is parse_counts' business.
    """
    require_plugin_support(qemu_cmd[0])
    counts_file = Path(counts_file)
    counts_file.unlink(missing_ok=True)
    args = plugin_args(counts_file, caches, lib=build_plugin(qemu_cmd[0]), symbols=symbols)
    proc = subprocess.run([*view_prefix, *resolve_emulator_argv(qemu_cmd), *args, *program], capture_output=True,
                          text=True, timeout=timeout, env=None if env is None else dict(env), cwd=cwd)
    if proc.returncode != 0 and not counts_file.exists():
        lines = proc.stderr.splitlines()
        own = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("eb_counters:")]
        if own:
            raise EdgebenchError(f"the counting plugin refused to start: {own[-1]}")
        qemu_says = [ln.strip() for ln in lines if "plugin" in ln.lower()]
        if qemu_says:
            raise EdgebenchError(f"QEMU did not load the counting plugin: {qemu_says[-1]}", hint=QEMU_PACKAGE_HINT)
    return CountedRun(proc.returncode, proc.stdout, proc.stderr, counts_file)


# The self-test guest: a tiny program with known work per iteration (qemu_plugin/selftest.c).
SELFTEST_TARGETS = {
    "armv7": (("arm-linux-gnueabihf-gcc", "-marm", "-march=armv7-a", "-mfpu=neon", "-mfloat-abi=hard"),
              ("qemu-arm", "-cpu", "cortex-a9"), "gcc-arm-linux-gnueabihf"),
    "aarch64": (("aarch64-linux-gnu-gcc",), ("qemu-aarch64", "-cpu", "cortex-a53"), "gcc-aarch64-linux-gnu"),
}


def build_selftest(arch: str) -> Path:
    """The static self-test program for `arch` ("armv7" or "aarch64"), cached like the plugin."""
    if arch not in SELFTEST_TARGETS:
        raise EdgebenchError(f"no self-test program for arch {arch!r}", hint=f"one of {sorted(SELFTEST_TARGETS)}")
    compiler, _, package = SELFTEST_TARGETS[arch]
    if shutil.which(compiler[0]) is None:
        raise EdgebenchError(f"{compiler[0]} not found on PATH", hint=f"sudo apt-get install {package}")
    source = SELFTEST_SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join(compiler).encode()).hexdigest()[:16]
    exe = cache_dir() / "qemu_plugin" / f"selftest-{arch}-{key}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=exe.name, suffix=".tmp", dir=exe.parent)
    os.close(fd)
    try:
        proc = subprocess.run([*compiler, "-static", "-O2", "-o", tmp, str(SELFTEST_SOURCE), "-lpthread"],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise EdgebenchError(f"building the {arch} self-test failed: {proc.stderr.strip()[-300:]}")
        os.replace(tmp, exe)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return exe


def selftest_qemu(arch: str) -> tuple[str, ...]:
    """The emulator command the self-test runs under for `arch` (always with an explicit -cpu)."""
    return SELFTEST_TARGETS[arch][1]
