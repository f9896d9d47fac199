"""The board's system view: the /sys/devices/system/cpu tree and /proc/cpuinfo a real board's kernel shows,
generated from its devices.yaml entry and given to every program the emulated board runs.

Why: NCNN sizes its kernels from those files (src/cpu.cpp: /proc/cpuinfo for the CPU count and, on aarch64,
the CPU part that selects its Cortex-A53 kernels; cpuN/cache/indexK for the L2/L3 its tiles fit into;
cpuN/cpufreq for big/little cores). Under qemu-user the guest reads the host's files, so the same binary tiled
for whichever CPU the host had and the counts moved from host to host (L2 misses up to 74 % apart).

How: a private mount namespace per emulated program, with the generated tree bind-mounted over
/sys/devices/system/cpu and the generated cpuinfo over /proc/cpuinfo (`unshare --mount` as root,
`unshare --map-root-user --mount` otherwise). A path the board lacks is then absent, as on the board. QEMU's
own prefix (-L / QEMU_LD_PREFIX) was measured and rejected: QEMU 7.2 redirects a path only when the prefix
holds it (util/path.c), so every file a board lacks (an ARM32 kernel lists no caches at all) is read from the
host instead. Where neither namespace works (no root and user namespaces disabled) emulated programs refuse
to start: counts made with the host's view would not hold on another machine.

docs/board_system_views.md says, with sources, what each real board's kernel shows and which L2 NCNN uses
there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgebench.boards.devices import Device, SystemViewSpec, default_system_view
from edgebench.caches import CacheLevel
from edgebench.errors import EdgebenchError
from edgebench.results.result import NcnnCpuInfo

CPU_TREE = "sys/devices/system/cpu"  # where they live in the view and (with a leading /) on the board
CPUINFO = "proc/cpuinfo"
MANIFEST = "view.json"
TAB_COLON, TAB_TAB_COLON = "\t: ", "\t\t: "

# NCNN's fallback when no cache entry says which L2 a core has (src/cpu.cpp get_cpu_level2_cachesize).
NCNN_FALLBACK_L2 = {"armv7": 128 * 1024, "aarch64": 256 * 1024}


@dataclass(frozen=True)
class CpuIdentity:
    """What a core says about itself: MIDR (implementer, variant, part, revision) and cpuinfo's Features."""

    midr: int
    features: str  # as the board's kernel prints them (its HWCAPs)
    aarch32_features: str | None = None  # an ARMv8 core under a 32-bit kernel (Raspbian on a Pi 3) prints these

    @property
    def part(self) -> int:
        return self.midr >> 4 & 0xFFF


# The revisions the boards in devices.yaml carry (i.MX 6: r2p10; Pi 3 B+: r0p4; Pi 4: r0p3; i.MX 7D: r0p5).
CPU_IDENTITIES = {
    "cortex-a7": CpuIdentity(0x410FC075, "half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 "
                                         "lpae evtstrm"),
    "cortex-a9": CpuIdentity(0x412FC09A, "half thumb fastmult vfp edsp neon vfpv3 tls vfpd32"),
    "cortex-a53": CpuIdentity(0x410FD034, "fp asimd evtstrm crc32 cpuid",
                              "half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32"),
    "cortex-a72": CpuIdentity(0x410FD083, "fp asimd evtstrm crc32 cpuid"),
}
_A53_A55_PARTS = (0xD03, 0xD04, 0xD05)  # NCNN's midr_is_a53_a55 for ARM's own cores


@dataclass(frozen=True)
class ExpectedNcnnCpu:
    """What NCNN must detect inside this view: the proof that the view, not the host, reached the guest."""

    count: int
    l2_cache_bytes: int
    l3_cache_bytes: int
    a53_a55: bool


@dataclass(frozen=True)
class SystemView:
    """Every file of the board's view (path relative to the view's root -> content) and what NCNN sees in it."""

    device: str
    files: dict[str, str]
    expected: ExpectedNcnnCpu

    @property
    def digest(self) -> str:
        return _digest(self.files)

    def describe(self) -> str:
        return f"{self.device} view {self.digest[:12]}"


def _digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return h.hexdigest()


def _cpu_list(cpus: range) -> str:
    return str(cpus[0]) if len(cpus) == 1 else f"{cpus[0]}-{cpus[-1]}"


def _cpu_mask(cpus: range) -> str:
    return format(sum(1 << c for c in cpus), "x")


def _size(kib: int) -> str:
    return f"{kib}K"


def board_view(device: Device) -> SystemView:
    """The view a real board of this kind shows, from its devices.yaml entry (cores, caches, clock, system_view)."""
    spec = device.system_view or default_system_view(device.arch, device.clock_mhz, device.cache)
    identity = CPU_IDENTITIES.get(device.cpu)
    if identity is None:
        raise EdgebenchError(f"device {device.name}: no CPU identity for {device.cpu!r} to build its system view",
                             hint=f"known CPUs: {', '.join(sorted(CPU_IDENTITIES))}")
    cpus = range(device.cores)
    levels = _exposed_levels(device, spec)
    files = {f"{CPU_TREE}/{name}": f"{_cpu_list(cpus)}\n" for name in ("online", "possible", "present")}
    files[f"{CPU_TREE}/offline"] = "\n"
    for cpu in cpus:
        base = f"{CPU_TREE}/cpu{cpu}"
        files.update(_topology(base, cpu, cpus))
        for index, (kind, level, geometry) in enumerate(levels):
            shared = cpus if level >= 2 else range(cpu, cpu + 1)  # one L2 per cluster, private L1s
            files.update(_cache_index(f"{base}/cache/index{index}", kind, level, geometry, shared))
        files.update(_cpufreq(f"{base}/cpufreq", spec.cpufreq_khz, spec.governor))
        if device.arch == "aarch64":  # arm64 kernels since 4.7 export the MIDR; 32-bit ARM ones do not
            files[f"{base}/regs/identification/midr_el1"] = f"0x{identity.midr:016x}\n"
            files[f"{base}/regs/identification/revidr_el1"] = f"0x{0:016x}\n"
    files[CPUINFO] = _cpuinfo(device, identity, spec)
    return SystemView(device=device.name, files=files, expected=_expected(device, identity, levels))


def _exposed_levels(device: Device, spec: SystemViewSpec) -> list[tuple[str, int, CacheLevel]]:
    """(sysfs type, level, geometry) of each cache the board's kernel lists, in its index order."""
    if not spec.cache_levels:
        return []
    if device.cache is None:
        raise EdgebenchError(f"device {device.name}: system_view.cache_levels lists caches but the entry declares "
                             "no cache geometry", hint=f"add cache: l1i/l1d/l2 to its entry in {device.source}")
    known = {"l1d": ("Data", 1, device.cache.l1d), "l1i": ("Instruction", 1, device.cache.l1i),
             "l2": ("Unified", 2, device.cache.l2)}
    levels = []
    for name in spec.cache_levels:
        kind, level, geometry = known[name]
        if geometry is None:
            raise EdgebenchError(f"device {device.name}: system_view.cache_levels lists {name} but cache: declares "
                                 f"no {name}", hint=f"add cache.{name} to its entry in {device.source}")
        levels.append((kind, level, geometry))
    return levels


def _topology(base: str, cpu: int, cpus: range) -> dict[str, str]:
    own = range(cpu, cpu + 1)
    return {
        f"{base}/topology/core_id": f"{cpu}\n",
        f"{base}/topology/physical_package_id": "0\n",
        f"{base}/topology/thread_siblings_list": f"{_cpu_list(own)}\n",
        f"{base}/topology/thread_siblings": f"{_cpu_mask(own)}\n",
        f"{base}/topology/core_cpus_list": f"{_cpu_list(own)}\n",
        f"{base}/topology/core_cpus": f"{_cpu_mask(own)}\n",
        f"{base}/topology/core_siblings_list": f"{_cpu_list(cpus)}\n",
        f"{base}/topology/core_siblings": f"{_cpu_mask(cpus)}\n",
        f"{base}/topology/package_cpus_list": f"{_cpu_list(cpus)}\n",
        f"{base}/topology/package_cpus": f"{_cpu_mask(cpus)}\n",
    }


def _cache_index(base: str, kind: str, level: int, geometry: CacheLevel, shared: range) -> dict[str, str]:
    sets = geometry.size_bytes // (geometry.ways * geometry.line_bytes)
    return {
        f"{base}/level": f"{level}\n",
        f"{base}/type": f"{kind}\n",
        f"{base}/size": f"{_size(geometry.size_kib)}\n",
        f"{base}/ways_of_associativity": f"{geometry.ways}\n",
        f"{base}/coherency_line_size": f"{geometry.line_bytes}\n",
        f"{base}/number_of_sets": f"{sets}\n",
        f"{base}/shared_cpu_map": f"{_cpu_mask(shared)}\n",
        f"{base}/shared_cpu_list": f"{_cpu_list(shared)}\n",
    }


def _cpufreq(base: str, khz: tuple[int, ...], governor: str) -> dict[str, str]:
    return {
        f"{base}/cpuinfo_min_freq": f"{min(khz)}\n",
        f"{base}/cpuinfo_max_freq": f"{max(khz)}\n",
        f"{base}/scaling_min_freq": f"{min(khz)}\n",
        f"{base}/scaling_max_freq": f"{max(khz)}\n",
        # The governor a benchmark asks for: the clock stays at its maximum.
        f"{base}/scaling_cur_freq": f"{max(khz) if governor == 'performance' else min(khz)}\n",
        f"{base}/scaling_governor": f"{governor}\n",
        f"{base}/scaling_available_frequencies": " ".join(str(f) for f in sorted(khz)) + " \n",
    }


def _cpuinfo(device: Device, identity: CpuIdentity, spec: SystemViewSpec) -> str:
    """/proc/cpuinfo as arch/arm/kernel/setup.c (c_show) or arch/arm64/kernel/cpuinfo.c prints it."""
    midr = identity.midr
    blocks = []
    for cpu in range(device.cores):
        lines = [f"processor\t: {cpu}"]
        if device.arch == "armv7":
            lines.append(f"model name\t: ARMv7 Processor rev {midr & 0xF} (v7l)")
        if spec.bogomips:
            lines.append(f"BogoMIPS\t: {spec.bogomips}")
        aarch32 = device.arch == "armv7" and identity.aarch32_features
        lines += [f"Features\t: {identity.aarch32_features if aarch32 else identity.features} ",
                  f"CPU implementer\t: 0x{midr >> 24:02x}",
                  f"CPU architecture: {7 if device.arch == 'armv7' else 8}",
                  f"CPU variant\t: 0x{midr >> 20 & 0xF:x}",
                  f"CPU part\t: 0x{identity.part:03x}",
                  f"CPU revision\t: {midr & 0xF}"]
        blocks.append("\n".join(lines) + "\n")
    # The kernel aligns its machine lines with tabs: "Hardware\t: ...", "Serial\t\t: ...".
    tail = "".join(f"{key}{TAB_COLON if len(key) >= 8 else TAB_TAB_COLON}{value}\n" for key, value in spec.cpuinfo_extra)
    return "\n".join(blocks) + ("\n" + tail if tail else "")


def _expected(device: Device, identity: CpuIdentity, levels: list[tuple[str, int, CacheLevel]]) -> ExpectedNcnnCpu:
    """NCNN's own rule (src/cpu.cpp get_data_cache_size): the first Data/Unified entry of the level, divided
    by the physical cores its shared_cpu_map names and rounded up to 4 KiB; no entry: its per-arch fallback."""
    def per_core(level: int) -> int:
        for _, lv, geometry in levels:
            if lv == level:
                shared = range(device.cores) if level >= 2 else range(1)
                sharing = [cpu for cpu in ncnn_mask_cpus(_cpu_mask(shared)) if cpu < device.cores]
                if len(sharing) == 1:
                    return geometry.size_bytes
                return (geometry.size_kib // len(sharing) + 3) // 4 * 4 * 1024 if sharing else 0
        return 0

    l2 = per_core(2) or NCNN_FALLBACK_L2[device.arch]
    a53 = device.arch == "aarch64" and identity.midr >> 24 == 0x41 and identity.part in _A53_A55_PARTS
    return ExpectedNcnnCpu(count=device.cores, l2_cache_bytes=l2, l3_cache_bytes=per_core(3), a53_a55=a53)


def ncnn_mask_cpus(mask: str) -> set[int]:
    """The CPUs NCNN reads from a sysfs shared_cpu_map, exactly as its parser does: it takes the low four bits
    of each character's code, which is right for 0-9 and wrong for a-f ('f' = 0x66 names CPUs 1 and 2, not
    0-3). So on a Pi 3 (L2 "f") it divides the 512 KiB L2 by 2, not 4; emulated, it must do the same."""
    digits = mask[2:] if mask.startswith("0x") else mask
    cpus = set()
    for position, char in enumerate(reversed(digits)):
        cpus |= {4 * position + bit for bit in range(4) if ord(char) >> bit & 1}
    return cpus


def check_ncnn_saw(view: SystemView, seen: NcnnCpuInfo, where: str) -> None:
    """Refuse a run whose NCNN did not see the board's view (an emulator or kernel that let the host through)."""
    e = view.expected
    wrong = [f"{name} {got} (the view gives {want})"
             for name, got, want in (("CPU count", seen.count, e.count), ("L2", seen.l2_cache_bytes, e.l2_cache_bytes),
                                     ("L3", seen.l3_cache_bytes, e.l3_cache_bytes),
                                     ("A53/A55 kernels", seen.a53_a55, e.a53_a55))
             if got != want]
    if wrong:
        raise EdgebenchError(f"{where}: NCNN did not see the board's system view ({view.describe()}): it detected "
                             + ", ".join(wrong),
                             hint="the emulator read this host's /sys or /proc/cpuinfo; its counts would depend on "
                                  "the host, so nothing was stored")


# -- on disk ------------------------------------------------------------------------------------------------------

def materialize(view: SystemView, root: Path) -> Path:
    """The view's folder under `root` (content-addressed: root/<digest16>), written when missing and rebuilt
    when its files no longer match (edited by hand); returns that folder."""
    folder = root / view.digest[:16]
    if _on_disk_digest(folder) == view.digest:
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        for rel, content in view.files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        (tmp / MANIFEST).write_text(json.dumps({"device": view.device, "digest": view.digest}) + "\n")
        os.chmod(tmp, 0o755)  # readable by the namespace's mapped user as by root
        if folder.exists():
            # A process may have it mounted already: swap by rename, so no reader sees half a tree.
            stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale.", dir=root))
            os.replace(folder, stale / "view")
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _on_disk_digest(folder: Path) -> str | None:
    """The digest of what the folder holds now (every file but the manifest), or None when it is not a view."""
    if not (folder / MANIFEST).is_file():
        return None
    files = {}
    try:
        for path in folder.rglob("*"):
            if path.is_symlink() or (not path.is_file() and not path.is_dir()):
                return None
            if path.is_file() and path.name != MANIFEST:
                files[path.relative_to(folder).as_posix()] = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return _digest(files)


# -- the namespace ------------------------------------------------------------------------------------------------

# $1 the view's cpu tree, $2 its cpuinfo, then the program. Both mounts or nothing: a half view is the host's.
_MOUNT_AND_EXEC = 'mount --bind "$1" /sys/devices/system/cpu && mount --bind "$2" /proc/cpuinfo && shift 2 && exec "$@"'


def unshare_argv() -> list[str]:
    """A private mount namespace: as root directly, otherwise inside a user namespace mapped to root."""
    return ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]


def view_prefix(folder: Path) -> list[str]:
    """The argv prefix that runs a program with the view at `folder` mounted over the host's files."""
    return [*unshare_argv(), "--", "sh", "-c", _MOUNT_AND_EXEC, "sh", str(folder / CPU_TREE), str(folder / CPUINFO)]


@lru_cache(maxsize=None)
def require_namespace_support() -> None:
    """One clear line when this machine cannot give a program its own view of /sys and /proc/cpuinfo."""
    probe = tempfile.mkdtemp(prefix="edgebench-view-probe-")
    try:
        tree = Path(probe) / CPU_TREE
        tree.mkdir(parents=True)
        (Path(probe) / CPUINFO).parent.mkdir(parents=True)
        (Path(probe) / CPUINFO).write_text("edgebench probe\n")
        os.chmod(probe, 0o755)
        try:
            done = subprocess.run([*view_prefix(Path(probe)), "cat", "/proc/cpuinfo"], capture_output=True,
                                  text=True, timeout=30)
        except FileNotFoundError:
            raise EdgebenchError("unshare not found: emulated boards run in their own mount namespace",
                                 hint="sudo apt-get install util-linux mount") from None
        if done.returncode != 0 or done.stdout != "edgebench probe\n":
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise EdgebenchError(
                f"cannot give an emulated board its own /sys/devices/system/cpu and /proc/cpuinfo: "
                f"{' '.join(unshare_argv())} failed ({why})",
                hint="run as root, or allow unprivileged user namespaces (Ubuntu 24.04: sysctl "
                     "kernel.apparmor_restrict_unprivileged_userns=0); with the host's view the counts would "
                     "depend on this host")
    finally:
        shutil.rmtree(probe, ignore_errors=True)
