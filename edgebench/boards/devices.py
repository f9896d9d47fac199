"""The board inventory: devices.yaml files merged by name and validated into typed dataclasses.

Lookup (first wins, entries merge by name): --devices FILE, ./devices.yaml, the user's
~/.config/edgebench/devices.yaml, then the default shipped inside the package. Every validation error names
the file, the entry and the field, so a typo in a 40-board inventory is found at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from edgebench.caches import CacheGeometry, CacheLevel
from edgebench.errors import EdgebenchError

PACKAGED_DEVICES = Path(__file__).parents[1] / "devices.yaml"  # package data of edgebench itself
ARCHES = ("armv7", "aarch64")
# The emulator binary each arch needs; a mismatch would run the wrong instruction set.
EMULATOR_FOR_ARCH = {"armv7": "qemu-arm", "aarch64": "qemu-aarch64"}


@dataclass(frozen=True)
class Connection:
    """How to reach a board over SSH. `host` may be an ~/.ssh/config alias; fields set here win over it."""

    host: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    proxy_jump: str | None = None  # "user@jump:port[,next...]" like ssh -J; else taken from ~/.ssh/config
    known_hosts: str | None = None  # default ~/.ssh/known_hosts
    ssh_config: str | None = None  # default ~/.ssh/config (read when it exists); "none" reads no config
    connect_timeout_s: float = 10.0


@dataclass(frozen=True)
class LabgridPlace:
    """A board in a labgrid lab: one named place, or any place whose tags include all of `tags` (the
    coordinator queues the request while every such place is in use). The place's NetworkService says where
    it is reached; `ssh` holds the rest (key, known_hosts, ...), its host, port and user being the place's."""

    place: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    coordinator: str | None = None  # HOST:PORT; None: --coordinator or LG_COORDINATOR
    ssh: Connection = Connection(host="")

    @property
    def wanted(self) -> dict[str, str]:
        """The coordinator's reservation filter: its scheduler matches a place's name as the tag "name"."""
        return {"name": self.place} if self.place else dict(self.tags)

    def describe(self) -> str:
        return self.place or " ".join(f"{k}={v}" for k, v in self.tags)

    def coordinator_address(self, device: str) -> str:
        address = self.coordinator or os.environ.get("LG_COORDINATOR")
        if not address:
            raise EdgebenchError(f"device {device!r} is a labgrid place but no coordinator is named",
                                 hint="add labgrid.coordinator: HOST:PORT to its entry, set LG_COORDINATOR, or "
                                      "pass --coordinator")
        return address


@dataclass(frozen=True)
class RunnerDefaults:
    threads: int = 1
    loops: int = 20
    warmup: int = 3


@dataclass(frozen=True)
class Emulator:
    """The argv prefix that runs a program as the emulated CPU, e.g. ("qemu-arm", "-cpu", "cortex-a9")."""

    argv: tuple[str, ...]

    @property
    def cpu(self) -> str:
        return self.argv[self.argv.index("-cpu") + 1]

    def __str__(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class SystemViewSpec:
    """What the board's kernel shows userspace beyond cores and caches (edgebench.boards.sysview builds the files)."""

    cache_levels: tuple[str, ...]  # caches listed in cpuN/cache, in index order; 32-bit ARM kernels list none
    cpufreq_khz: tuple[int, ...]  # the operating points cpufreq offers; the highest is the clock
    governor: str = "performance"
    bogomips: str | None = None  # cpuinfo's BogoMIPS line (a timer figure: nothing reads it)
    cpuinfo_extra: tuple[tuple[str, str], ...] = ()  # the machine lines after the processors (Hardware, Model, ...)


@dataclass(frozen=True)
class SystemSpec:
    """A full-system emulated board: the image it boots (edgebench.boards.system_image names them) and its RAM.
    Its cores are the device's `cores` (qemu -smp)."""

    image: str
    memory_mib: int = 1024


# Without a system_view entry: what the kernels of each arch list by default (32-bit ARM has no cacheinfo for
# these cores, arm64 lists every level the device tree describes; see docs/board_system_views.md).
DEFAULT_CACHE_LEVELS = {"armv7": (), "aarch64": ("l1d", "l1i", "l2")}
CACHE_LEVEL_NAMES = ("l1d", "l1i", "l2")


@dataclass(frozen=True)
class Device:
    name: str
    arch: str  # "armv7" | "aarch64"
    cpu: str
    cores: int
    clock_mhz: int
    source: Path  # the devices.yaml this entry came from
    connection: Connection | None = None  # None for emulated targets (`edgebench target up` provides it) and labgrid places
    workdir: str | None = None  # remote folder; relative = under the login's home; None = the default
    cache: CacheGeometry | None = None
    runner: RunnerDefaults = field(default_factory=RunnerDefaults)
    emulator: Emulator | None = None
    description: str = ""
    system_view: SystemViewSpec | None = None  # parsed for every device; emulated ones present it to the guest
    labgrid: LabgridPlace | None = None  # reached through a labgrid coordinator's place (acquired per run)
    system: SystemSpec | None = None  # a full-system emulated board (qemu-system), reached like a real one

    @property
    def emulated(self) -> bool:
        return self.emulator is not None


def with_coordinator(device: Device, address: str | None) -> Device:
    """`device` with --coordinator applied (it wins over the entry's and LG_COORDINATOR)."""
    if address is None:
        return device
    if device.labgrid is None:
        raise EdgebenchError(f"--coordinator is for labgrid devices; {device.name} is reached without one",
                             hint=f"give {device.name} a labgrid: {{place: ...}} entry, or leave --coordinator out")
    return replace(device, labgrid=replace(device.labgrid, coordinator=address))


def user_devices_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "edgebench" / "devices.yaml"


def devices_files(explicit: str | Path | None = None) -> list[Path]:
    """The files that make up the inventory, highest precedence first."""
    files: list[Path] = []
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise EdgebenchError(f"devices file {path} does not exist")
        files.append(path)
    for candidate in (Path.cwd() / "devices.yaml", user_devices_file(), PACKAGED_DEVICES):
        if candidate.is_file() and all(not candidate.resolve() == f.resolve() for f in files):
            files.append(candidate)
    return files


def load_devices(explicit: str | Path | None = None) -> dict[str, Device]:
    """Every device, merged by name across the lookup files (higher precedence replaces a whole entry)."""
    devices: dict[str, Device] = {}
    for path in reversed(devices_files(explicit)):
        devices.update(parse_devices_file(path))
    return devices


def get_device(name: str, explicit: str | Path | None = None) -> Device:
    devices = load_devices(explicit)
    if name not in devices:
        known = ", ".join(sorted(devices)) or "none"
        raise EdgebenchError(f"unknown device {name!r} (known: {known})",
                             hint="add it to ./devices.yaml or ~/.config/edgebench/devices.yaml")
    return devices[name]


def parse_devices_file(path: Path) -> dict[str, Device]:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise EdgebenchError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise EdgebenchError(f"{path}: expected a mapping of device name -> settings, got {type(doc).__name__}")
    devices = {}
    for name, entry in doc.items():
        name = str(name)
        if not name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise EdgebenchError(f"{path}: device name {name!r} must be non-empty and printable")
        devices[name] = _parse_device(path, name, entry)
    return devices


class _Entry:
    """Reads one mapping of a device entry; every error says file, entry and field."""

    def __init__(self, path: Path, device: str, prefix: str, data: Any):
        self.path, self.device, self.prefix = path, device, prefix
        if not isinstance(data, dict):
            self.fail("", f"expected a mapping, got {type(data).__name__}")
        self.data = data

    def fail(self, key: str, problem: str) -> NoReturn:
        where = f"{self.prefix}{key}".strip(".") or "(entry)"
        raise EdgebenchError(f"{self.path}: device {self.device!r}, field {where}: {problem}")

    def refuse_unknown(self, allowed: set[str]) -> None:
        for key in self.data:
            if key in {"password", "passphrase"}:
                self.fail(key, "passwords are not read from files; use a key file (identity_file) or ssh-agent")
            if key not in allowed:
                self.fail(str(key), f"unknown field (known: {', '.join(sorted(allowed))})")

    def get(self, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail(key, "missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(key, f"expected {kind.__name__}, got {type(value).__name__} ({value!r})")
        return value

    def positive(self, key: str, default: int | None = None, required: bool = False) -> int | None:
        value = self.get(key, int, default, required)
        if value is not None and value <= 0:
            self.fail(key, f"must be > 0, got {value}")
        return value

    def sub(self, key: str) -> "_Entry | None":
        if self.data.get(key) is None:
            return None
        return _Entry(self.path, self.device, f"{self.prefix}{key}.", self.data[key])


_DEVICE_FIELDS = {"arch", "cpu", "cores", "clock_mhz", "cache", "connection", "workdir", "runner", "emulator",
                  "description", "system_view", "labgrid", "system"}
_CONNECTION_FIELDS = {"host", "port", "user", "identity_file", "proxy_jump", "known_hosts", "ssh_config",
                      "connect_timeout_s"}


def _parse_device(path: Path, name: str, data: Any) -> Device:
    entry = _Entry(path, name, "", data)
    entry.refuse_unknown(_DEVICE_FIELDS)
    arch = entry.get("arch", str, required=True)
    if arch not in ARCHES:
        entry.fail("arch", f"must be one of {', '.join(ARCHES)}, got {arch!r}")
    emulator = _parse_emulator(entry, arch)
    labgrid = _parse_labgrid(entry.sub("labgrid"), entry.sub("connection"))
    connection = None if labgrid else _parse_connection(entry.sub("connection"))
    system = _parse_system(entry.sub("system"))
    if system is not None and (emulator is not None or labgrid is not None):
        entry.fail("system", "a full-system board (system:) is neither qemu-user (emulator:) nor a labgrid place")
    if emulator is None and system is None and connection is None and labgrid is None:
        entry.fail("connection", "missing: a real board needs connection.host (or give an emulator, a system or "
                                 "labgrid)")
    if (emulator is not None or system is not None) and connection is not None:
        entry.fail("connection", "an emulated target is reached through `edgebench target up`; drop connection")
    workdir = entry.get("workdir", str)
    if workdir is not None and (not workdir.strip() or workdir.startswith("~")):
        entry.fail("workdir", "give an absolute path or one relative to the login's home (no '~': it is "
                              "not expanded inside quoted remote commands)")
    clock_mhz = entry.positive("clock_mhz", required=True)
    cache = _parse_cache(entry.sub("cache"))
    return Device(
        name=name,
        arch=arch,
        cpu=entry.get("cpu", str, required=True),
        cores=entry.positive("cores", required=True),
        clock_mhz=clock_mhz,
        source=path,
        connection=connection,
        workdir=workdir,
        cache=cache,
        runner=_parse_runner(entry.sub("runner")),
        emulator=emulator,
        description=entry.get("description", str, ""),
        system_view=_parse_system_view(entry.sub("system_view"), arch, clock_mhz, cache),
        labgrid=labgrid,
        system=system,
    )


# labgrid's own rule for tag names (labgrid.remote.common.TAG_KEY); its coordinator refuses any other.
_TAG_KEY = re.compile(r"[a-z][a-z0-9_]+")


def _parse_labgrid(entry: _Entry | None, connection: _Entry | None) -> LabgridPlace | None:
    if entry is None:
        return None
    entry.refuse_unknown({"place", "tags", "coordinator"})
    place, tags = entry.get("place", str), entry.get("tags", dict)
    if (place is None) == (tags is None):
        entry.fail("", "name one place (place: pi4-03) or the tags any free place must have (tags: {board: rpi4})")
    if place is not None and not place.strip():
        entry.fail("place", "must be a place name")
    if tags is not None:
        if not tags:
            entry.fail("tags", "expected at least one tag, e.g. {board: rpi4}")
        for key, value in tags.items():
            if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
                entry.fail("tags", f"tag name {key!r}: labgrid takes lower-case letters, digits and '_' "
                                   "(2 or more, a letter first)")
            if not isinstance(value, str) or not value:
                entry.fail(f"tags.{key}", f"expected a non-empty string, got {value!r}")
    ssh = Connection(host="")
    if connection is not None:
        for key in ("host", "port", "user"):
            if key in connection.data:
                connection.fail(key, "a labgrid place's NetworkService says where it is reached; drop it here")
        ssh = _parse_connection(connection, host_required=False)
    return LabgridPlace(place=place, tags=tuple(sorted(tags.items())) if tags else (),
                        coordinator=entry.get("coordinator", str), ssh=ssh)


def _parse_system(entry: _Entry | None) -> SystemSpec | None:
    if entry is None:
        return None
    entry.refuse_unknown({"image", "memory_mib"})
    return SystemSpec(image=entry.get("image", str, required=True), memory_mib=entry.positive("memory_mib", 1024))


def default_system_view(arch: str, clock_mhz: int, cache: CacheGeometry | None) -> SystemViewSpec:
    """The view of an entry that says nothing more than cores, caches and clock."""
    declared = tuple(name for name in DEFAULT_CACHE_LEVELS[arch] if cache is not None and getattr(cache, name))
    return SystemViewSpec(cache_levels=declared, cpufreq_khz=(clock_mhz * 1000,))


def _parse_system_view(entry: _Entry | None, arch: str, clock_mhz: int, cache: CacheGeometry | None) -> SystemViewSpec:
    default = default_system_view(arch, clock_mhz, cache)
    if entry is None:
        return default
    entry.refuse_unknown({"cache_levels", "cpufreq_khz", "governor", "bogomips", "cpuinfo_extra"})
    levels = entry.get("cache_levels", list, list(default.cache_levels))
    if not all(isinstance(v, str) for v in levels) or len(set(levels)) != len(levels):
        entry.fail("cache_levels", f"expected a list of distinct names from {', '.join(CACHE_LEVEL_NAMES)}")
    unknown = [v for v in levels if v not in CACHE_LEVEL_NAMES]
    if unknown:
        entry.fail("cache_levels", f"unknown cache {unknown[0]!r} (known: {', '.join(CACHE_LEVEL_NAMES)})")
    if levels and cache is None:
        entry.fail("cache_levels", "lists caches but the entry declares no cache: geometry")
    khz = entry.get("cpufreq_khz", list, [clock_mhz * 1000])
    if not khz or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in khz):
        entry.fail("cpufreq_khz", "expected a non-empty list of positive frequencies in kHz, e.g. [396000, 792000]")
    if abs(max(khz) - clock_mhz * 1000) > clock_mhz * 10:  # 1 %: an "800 MHz" part runs at 792 MHz
        entry.fail("cpufreq_khz", f"the highest operating point {max(khz)} kHz is not clock_mhz ({clock_mhz} MHz)")
    extra = entry.get("cpuinfo_extra", dict, {})
    if not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in extra.items()):
        entry.fail("cpuinfo_extra", "expected a mapping of line name -> text, e.g. {Hardware: BCM2835}")
    return SystemViewSpec(cache_levels=tuple(levels), cpufreq_khz=tuple(khz), governor=entry.get("governor", str, "performance"),
                          bogomips=entry.get("bogomips", str),
                          cpuinfo_extra=tuple((k, str(v)) for k, v in extra.items()))


def _parse_emulator(entry: _Entry, arch: str) -> Emulator | None:
    argv = entry.get("emulator", list)
    if argv is None:
        return None
    if not argv or not all(isinstance(a, str) and a for a in argv):
        entry.fail("emulator", "expected a non-empty list of strings, e.g. [qemu-arm, -cpu, cortex-a9]")
    if Path(argv[0]).name != EMULATOR_FOR_ARCH[arch]:
        entry.fail("emulator", f"arch {arch} runs under {EMULATOR_FOR_ARCH[arch]}, not {argv[0]}")
    # Without -cpu, QEMU emulates "max", which has instructions the real CPU lacks (VFPv4 on a Cortex-A9).
    if "-cpu" not in argv[:-1]:
        entry.fail("emulator", "name the CPU with -cpu (e.g. -cpu cortex-a9): the default 'max' CPU has "
                               "instructions the board lacks")
    return Emulator(tuple(argv))


def _parse_connection(entry: _Entry | None, host_required: bool = True) -> Connection | None:
    if entry is None:
        return None
    entry.refuse_unknown(_CONNECTION_FIELDS)
    port = entry.get("port", int)
    if port is not None and not 0 < port < 65536:
        entry.fail("port", f"must be 1..65535, got {port}")
    timeout = entry.get("connect_timeout_s", float, 10.0)
    if timeout <= 0:
        entry.fail("connect_timeout_s", f"must be > 0, got {timeout}")

    def local_path(key: str) -> str | None:
        """A local file named in devices.yaml: '~' expands, a relative path is relative to that yaml file."""
        value = entry.get(key, str)
        if value is None or value == "none" or value.startswith("~") or os.path.isabs(value):
            return value
        return str(entry.path.parent.resolve() / value)

    return Connection(
        host=entry.get("host", str, required=True) if host_required else "",
        port=port,
        user=entry.get("user", str),
        identity_file=local_path("identity_file"),
        proxy_jump=entry.get("proxy_jump", str),
        known_hosts=local_path("known_hosts"),
        ssh_config=local_path("ssh_config"),
        connect_timeout_s=timeout,
    )


def _parse_cache(entry: _Entry | None) -> CacheGeometry | None:
    if entry is None:
        return None
    entry.refuse_unknown({"l1i", "l1d", "l2"})

    def level(key: str, required: bool) -> CacheLevel | None:
        sub = entry.sub(key)
        if sub is None:
            if required:
                entry.fail(key, "missing")
            return None
        sub.refuse_unknown({"size_kib", "ways", "line_bytes"})
        found = CacheLevel(size_kib=sub.positive("size_kib", required=True), ways=sub.positive("ways", required=True),
                           line_bytes=sub.positive("line_bytes", required=True))
        if (problem := found.problem()) is not None:
            entry.fail(key, problem)
        return found

    return CacheGeometry(l1i=level("l1i", True), l1d=level("l1d", True), l2=level("l2", False))


def _parse_runner(entry: _Entry | None) -> RunnerDefaults:
    if entry is None:
        return RunnerDefaults()
    entry.refuse_unknown({"threads", "loops", "warmup"})
    warmup = entry.get("warmup", int, 3)
    if warmup < 0:
        entry.fail("warmup", f"must be >= 0, got {warmup}")
    return RunnerDefaults(threads=entry.positive("threads", 1), loops=entry.positive("loops", 20), warmup=warmup)
