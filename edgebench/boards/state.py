"""The board as it was just before and just after a run: what makes a latency number explainable.

One remote shell call per snapshot reads uname, /proc/cpuinfo (model and the Features line: getauxval is not
reachable from here), the cpufreq governor and current frequency, the thermal zones and the load average.

On an emulated board the host's clock and temperature say nothing about the emulated CPU, so they stay
empty; instead the state names the emulator, its version and CPU, and the HWCAPs the emulated CPU really
has. QEMU 7.2 does not emulate /proc/cpuinfo for ARM guests, so those come from the guest's auxiliary
vector: the cross glibc's dynamic loader, run under the emulator with LD_SHOW_AUXV=1, prints AT_HWCAP.
"""

from __future__ import annotations

import dataclasses
import re

from edgebench.boards.devices import Device
from edgebench.boards.launcher import Launcher
from edgebench.boards.transport import Transport
from edgebench.results.result import BoardState, CpuClock

HOT_C = 80.0  # i.MX 6 and Raspberry Pi firmware start throttling in the 80-85 °C range
CLOCK_DROP = 0.95  # a frequency more than 5 % below the starting (or nominal) one is flagged

# The Debian cross glibc loaders (installed with the cross compilers); run under QEMU they report the
# emulated CPU's HWCAPs.
GUEST_LOADERS = {
    "armv7": "/usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3",
    "aarch64": "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
}

# Linux HWCAP bits (arch/arm*/include/uapi/asm/hwcap.h), named as /proc/cpuinfo's Features line names them.
_HWCAP_BITS = {
    "armv7": ["swp", "half", "thumb", "26bit", "fastmult", "fpa", "vfp", "edsp", "java", "iwmmxt", "crunch",
              "thumbee", "neon", "vfpv3", "vfpv3d16", "tls", "vfpv4", "idiva", "idivt", "vfpd32", "lpae",
              "evtstrm"],
    "aarch64": ["fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp", "asimdhp",
                "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4", "asimddp",
                "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb", "paca", "pacg"],
}

# ARM "CPU part" numbers (implementer 0x41) of the cores edge boards carry.
_ARM_PARTS = {"0xc05": "Cortex-A5", "0xc07": "Cortex-A7", "0xc08": "Cortex-A8", "0xc09": "Cortex-A9",
              "0xc0d": "Cortex-A12", "0xc0e": "Cortex-A17", "0xc0f": "Cortex-A15", "0xd03": "Cortex-A53",
              "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
              "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76"}

# $1: full|quick; then, on emulated targets: $2 the guest loader, $3 the emulator binary, $4.. the launcher prefix
# (the board's system view + the emulator argv).
_SNAPSHOT = r'''
mode=$1; shift
cpufreq=/sys/devices/system/cpu/cpu0/cpufreq
echo @@loadavg; cat /proc/loadavg 2>/dev/null
echo @@online; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null
echo @@freq; cat $cpufreq/scaling_cur_freq 2>/dev/null || cat $cpufreq/cpuinfo_cur_freq 2>/dev/null
echo @@cpus
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  f=$c/cpufreq
  printf '%s %s %s %s\n' "${c##*/cpu}" "$(cat $f/scaling_cur_freq 2>/dev/null || echo -)" \
    "$(cat $f/scaling_governor 2>/dev/null || echo -)" "$(cat $f/cpuinfo_max_freq 2>/dev/null || echo -)"
done
echo @@temp
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] && printf '%s %s\n' "$(cat "$z/type" 2>/dev/null | tr ' ' _)" "$(cat "$z/temp" 2>/dev/null)"
done
[ "$mode" = full ] || exit 0
echo @@uname; uname -a
echo @@governor; cat $cpufreq/scaling_governor 2>/dev/null
echo @@cpuinfo; cat /proc/cpuinfo 2>/dev/null
[ "$#" -gt 0 ] || exit 0
loader=$1; emulator=$2; shift 2
echo @@emulator_version; "$emulator" --version 2>&1 | head -n 1
echo @@guest_auxv; [ -r "$loader" ] && "$@" -E LD_SHOW_AUXV=1 "$loader" --version 2>&1 | grep '^AT_'
exit 0
'''


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return sections


def _snapshot(transport: Transport, full: bool, guest: list[str] | None = None) -> dict[str, list[str]]:
    """The snapshot's sections; `guest` (loader, emulator binary, launcher prefix) adds the emulated CPU's."""
    argv = ["sh", "-c", _SNAPSHOT, "edgebench", "full" if full else "quick", *(guest if full and guest else [])]
    result = transport.run(argv, timeout=60)
    result.check(f"{transport.name}: reading the board state")
    return _sections(result.stdout)


def _first_int(lines: list[str]) -> int | None:
    return int(lines[0]) if lines and lines[0].strip().isdigit() else None


def max_temperature_c(lines: list[str]) -> float | None:
    """The hottest thermal zone, in °C (sysfs gives millidegrees)."""
    temps = []
    for line in lines:
        value = line.split()[-1]
        if re.fullmatch(r"-?\d+", value):
            temps.append(int(value) / 1000.0)
    return max(temps) if temps else None


def parse_loadavg(lines: list[str]) -> list[float]:
    return [float(v) for v in lines[0].split()[:3]] if lines else []


def parse_cpuinfo(lines: list[str]) -> tuple[str, list[str]]:
    """(CPU model, HWCAP flags) from /proc/cpuinfo: 'Features' on ARM, 'flags' on x86."""
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    model = fields.get("model name") or fields.get("Processor") or fields.get("cpu model") or ""
    part = _ARM_PARTS.get(fields.get("CPU part", "").lower()) if fields.get("CPU implementer") == "0x41" else None
    pieces = [p for p in (part, model, fields.get("Hardware")) if p]
    flags = (fields.get("Features") or fields.get("flags") or "").split()
    return "; ".join(dict.fromkeys(pieces)), flags


def parse_guest_hwcaps(arch: str, lines: list[str]) -> list[str]:
    """AT_HWCAP as glibc's LD_SHOW_AUXV prints it: names on 32-bit ARM, a hex mask on aarch64."""
    for line in lines:
        if line.startswith("AT_HWCAP:"):
            value = line.split(":", 1)[1].strip()
            if re.fullmatch(r"(0x)?[0-9a-fA-F]+", value):
                mask = int(value, 16)
                return [name for bit, name in enumerate(_HWCAP_BITS[arch]) if mask >> bit & 1]
            return value.split()
    return []


def parse_cpu_clocks(lines: list[str]) -> dict[int, tuple[int | None, str | None, int | None]]:
    """cpu -> (current kHz, governor, max kHz) from the snapshot's "N cur governor max" lines ("-": unknown)."""
    out: dict[int, tuple[int | None, str | None, int | None]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        cur, gov, top = parts[1:]
        out[int(parts[0])] = (int(cur) if cur.isdigit() else None, None if gov == "-" else gov,
                              int(top) if top.isdigit() else None)
    return out


def with_cpus_used(state: BoardState, cpus: list[int]) -> BoardState:
    """The state with the CPUs the runner reports it was pinned to, keeping only their clock readings."""
    return dataclasses.replace(state, cpus_used=list(cpus), cpu_clocks=[c for c in state.cpu_clocks if c.cpu in cpus])


def measured_state_before(transport: Transport, device: Device) -> BoardState:
    """A real board just before a run (everything, with frequency and temperature as the 'before' values)."""
    s = _snapshot(transport, full=True)
    loadavg = parse_loadavg(s.get("loadavg", []))
    cpu_model, hwcaps = parse_cpuinfo(s.get("cpuinfo", []))
    clocks = [CpuClock(cpu, governor_before=gov, freq_khz_before=cur, max_freq_khz=top)
              for cpu, (cur, gov, top) in sorted(parse_cpu_clocks(s.get("cpus", [])).items())]
    return BoardState(uname=s.get("uname", [""])[0], cpu_model=cpu_model, hwcaps=hwcaps,
                      governor=(s.get("governor") or [None])[0], freq_khz_before=_first_int(s.get("freq", [])),
                      temp_c_before=max_temperature_c(s.get("temp", [])), loadavg=loadavg,
                      flags=busy_flags(loadavg, _first_int(s.get("online", []))), cpu_clocks=clocks)


def emulated_state(transport: Transport, device: Device, launcher: Launcher) -> BoardState:
    """An emulated board: the emulator, its version and CPU, and the HWCAPs the emulated CPU has. The host's
    clock and temperature say nothing about the emulated CPU, so they stay empty (before and after)."""
    exe = device.emulator.argv[0]
    s = _snapshot(transport, full=True, guest=[GUEST_LOADERS[device.arch], launcher.emulator[0], *launcher.argv([])])
    loadavg = parse_loadavg(s.get("loadavg", []))
    host_model, _ = parse_cpuinfo(s.get("cpuinfo", []))
    return BoardState(
        uname=s.get("uname", [""])[0],
        cpu_model=f"{device.emulator.cpu} (emulated by {exe}; host CPU: {host_model or 'unknown'})",
        hwcaps=parse_guest_hwcaps(device.arch, s.get("guest_auxv", [])),
        loadavg=loadavg, emulated=True, emulator=str(device.emulator),
        emulator_version=(s.get("emulator_version") or [None])[0],
        flags=busy_flags(loadavg, _first_int(s.get("online", []))))


def busy_flags(loadavg: list[float], online_cpus: int | None) -> list[str]:
    """Other work on the board (the host, for an emulated target) skews timings: say so."""
    if not loadavg or not online_cpus or loadavg[0] < 0.5 * online_cpus:
        return []
    return [f"busy before the run: load average {loadavg[0]:.2f} on {online_cpus} CPUs"]


def measured_state_after(transport: Transport, device: Device, before: BoardState,
                         hot_c: float = HOT_C) -> BoardState:
    """A real board's `before` completed with the 'after' readings and the flags they call for."""
    s = _snapshot(transport, full=False)
    after = parse_cpu_clocks(s.get("cpus", []))
    clocks = [dataclasses.replace(c, freq_khz_after=after.get(c.cpu, (None,) * 3)[0],
                                  governor_after=after.get(c.cpu, (None,) * 3)[1]) for c in before.cpu_clocks]
    state = dataclasses.replace(before, freq_khz_after=_first_int(s.get("freq", [])),
                                temp_c_after=max_temperature_c(s.get("temp", [])), cpu_clocks=clocks)
    return dataclasses.replace(state, flags=[*before.flags, *board_flags(device, state, hot_c)])


def board_flags(device: Device, state: BoardState, hot_c: float = HOT_C) -> list[str]:
    """Why a run's numbers may not hold: the clock dropped or sat below nominal, or the board ran hot."""
    flags = []
    before, after = state.freq_khz_before, state.freq_khz_after
    if before and after and after < before * CLOCK_DROP:
        flags.append(f"clock dropped {before} -> {after} kHz during the run")
    nominal_khz = device.clock_mhz * 1000
    lowest = min(f for f in (before, after) if f) if (before or after) else None
    if lowest is not None and lowest < nominal_khz * CLOCK_DROP:
        governor = f", governor {state.governor}" if state.governor else ""
        flags.append(f"clock below nominal: {lowest // 1000} of {device.clock_mhz} MHz{governor}")
    hottest = max((t for t in (state.temp_c_before, state.temp_c_after) if t is not None), default=None)
    if hottest is not None and hottest >= hot_c:
        flags.append(f"ran hot: {hottest:.1f} °C (limit {hot_c:g} °C)")
    return flags
