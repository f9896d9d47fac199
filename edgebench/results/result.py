"""The typed result of running one model on one device: what the store keeps and reports read."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(str, enum.Enum):  # str: stored and written as its value
    OK = "ok"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class Basis(str, enum.Enum):
    """What kind of latency a figure is, in the order reports trust them; never merged without its label."""

    MEASURED = "measured"  # median wall time of the timed iterations on a real board
    MODELED = "modeled"  # predicted from QEMU instruction and cache-miss counts; never measured
    EMULATED = "emulated"  # median wall time under QEMU: says how slow the emulator is, not the board

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of_wall_time(cls, emulated: bool) -> Basis:
        """The kind of a wall-time figure: the board's, or the emulator's."""
        return cls.EMULATED if emulated else cls.MEASURED


@dataclass
class RunSettings:
    """What the runner was asked to do (echoed back by it)."""

    threads: int = 1
    warmup: int = 3
    loops: int = 20
    min_time_ms: float = 0.0
    powersave: int = 0  # benchncnn's: 0 all cores, 1 little, 2 big
    cpus: list[int] | None = None  # explicit affinity (--cpus); None = chosen by powersave
    seed: int = 0
    fp16_packed: bool = True
    fp16_storage: bool = True
    fp16_arithmetic: bool = True
    bf16_storage: bool = False
    packing_layout: bool = True


@dataclass
class NcnnCpuInfo:
    """What NCNN detected about the CPU it ran on (the runner's report): on a real board this names the code
    paths it took; on an emulated one it must match the board's system view."""

    count: int
    big: int
    little: int
    physical: int
    l2_cache_bytes: int  # per physical core, as NCNN sizes its tiles (a shared L2 is divided by its cores)
    l3_cache_bytes: int
    a53_a55: bool  # aarch64: NCNN picks its Cortex-A53/A55-tuned kernels
    isa: list[str]  # the ISA extensions NCNN will use, e.g. ["edsp", "neon"] (armv7), ["cpuid"] (aarch64)

    def describe(self) -> str:
        cores = f"{self.count} CPU{'s' if self.count != 1 else ''}"
        if self.little:
            cores += f" ({self.big} big + {self.little} little)"
        l3 = f", L3 {self.l3_cache_bytes // 1024} KiB" if self.l3_cache_bytes else ""
        a53 = ", A53/A55 kernels" if self.a53_a55 else ""
        return f"{cores}, L2 {self.l2_cache_bytes // 1024} KiB{l3}{a53}; {' '.join(self.isa) or 'no SIMD'}"


@dataclass
class CpuClock:
    """One CPU's cpufreq readings just before and just after a run (None where sysfs does not say)."""

    cpu: int
    governor_before: str | None = None
    governor_after: str | None = None
    freq_khz_before: int | None = None
    freq_khz_after: int | None = None
    max_freq_khz: int | None = None  # cpuinfo_max_freq: what benchncnn's powersave groups cores by


@dataclass
class BoardState:
    """The board (or emulator) as seen just before and just after a run."""

    uname: str = ""
    cpu_model: str = ""
    hwcaps: list[str] = field(default_factory=list)
    governor: str | None = None
    freq_khz_before: int | None = None
    freq_khz_after: int | None = None
    temp_c_before: float | None = None
    temp_c_after: float | None = None
    loadavg: list[float] = field(default_factory=list)
    emulated: bool = False
    emulator: str | None = None  # e.g. "qemu-arm -cpu cortex-a9"
    emulator_version: str | None = None
    flags: list[str] = field(default_factory=list)  # e.g. "clock dropped 800000 -> 396000 kHz", "ran hot"
    ncnn_cpu: NcnnCpuInfo | None = None  # None for results stored before the runner reported it
    system_view: str | None = None  # emulated: the board's system view the guest saw (name and digest)
    cpus_used: list[int] = field(default_factory=list)  # the CPUs the runner was pinned to (empty: older results)
    cpu_clocks: list[CpuClock] = field(default_factory=list)  # real boards: each used CPU, before and after


@dataclass
class IterationCounts:
    """Exact guest counts for one timed iteration (QEMU plugin, between the runner's markers)."""

    instructions: int
    simd_fp: int  # NEON/VFP data-processing
    integer: int
    loads: int
    stores: int
    branches: int
    bytes_loaded: int
    bytes_stored: int
    l1d_misses: int
    l1i_misses: int
    l2_misses: int


COUNT_FIELDS = tuple(IterationCounts.__dataclass_fields__)  # every count of one timed iteration
# The counts the plugin also splits per guest function (symbols=on), and so per layer type.
PER_FUNCTION_FIELDS = ("instructions", "bytes_loaded", "bytes_stored", "l1d_misses", "l1i_misses", "l2_misses")


@dataclass
class LayerCost:
    """One NCNN layer type's share of a run's timed iterations, summed over them: the plugin's per-function
    counts (symbols=on) grouped by edgebench.modeling.layer_breakdown's documented rules."""

    layer_type: str  # an NCNN layer class ("Convolution", "ShuffleChannel", ...), or a named non-layer bucket
    iterations: int  # the timed iterations the totals sum over
    functions: int  # guest functions grouped here
    instructions: int
    bytes_loaded: int
    bytes_stored: int
    l1d_misses: int
    l1i_misses: int
    l2_misses: int


@dataclass
class LayerTime:
    """One layer of a profile: its median time over the profiled iterations."""

    name: str
    type: str
    median_ms: float
    share: float  # of the sum of every layer's median, 0..1


@dataclass
class LayerProfile:
    """Per-layer times on the board from the profiling runtime (NCNN_BENCHMARK=ON), run right after the timed
    one with the same settings. Profiling slows every layer a little: overhead says how much, here."""

    runtime_key: str  # the profiling runtime's (the timed result keeps its own)
    iterations: int
    profiled_ms: float  # the profiled run's median timed iteration
    unprofiled_ms: float  # the timed run's median
    layers: list[LayerTime]  # in the order NCNN ran them

    @property
    def overhead(self) -> float:
        """Profiled over unprofiled median, minus 1 (0.04 = the profile ran 4 % slower)."""
        return self.profiled_ms / self.unprofiled_ms - 1


@dataclass
class ModeledLatency:
    """A modeled latency (never measured) and what it was modeled with: the CPU, clock and cache geometry, so
    a report can model the stored counts again with the installed constants, and the identity of the constants
    used, so a figure made with other constants says so."""

    ms: float  # median over the timed iterations
    low_ms: float | None  # the interval (level below); None when the constants carry no interval data
    high_ms: float | None
    level: float | None  # e.g. 0.9
    cpu: str
    clock_mhz: float
    cache: str  # edgebench.modeling.latency_model.cache_signature of the device
    constants_id: str  # edgebench.modeling.latency_model.CpuConstants.identity
    flags: list[str] = field(default_factory=list)  # no interval, extrapolation, at the compute floor


@dataclass
class RunResult:
    run_id: str
    model: str
    artifact_sha256: str
    device: str
    arch: str
    settings: RunSettings
    ncnn_version: str
    runtime_key: str  # the runtime build's cache key: runs from different builds never mix
    samples_ms: list[float]  # every timed iteration, in order
    load_ms: float
    first_inference_ms: float
    peak_rss_kb: int
    output_checksum: dict[str, float]
    output_cosine_vs_host: float | None  # emulated/board output vs host NCNN on the same input
    board: BoardState
    started_utc: str
    finished_utc: str
    status: Status = Status.OK
    error: str | None = None
    counters: list[IterationCounts] | None = None
    modeled_ms: float | None = None  # always labelled "modeled" wherever shown; = modeled.ms when that is set
    mflops: float | None = None
    layer_breakdown: list[LayerCost] | None = None  # per layer type; only when asked for (RunRequest.breakdown)
    modeled: ModeledLatency | None = None  # the modeled figure with its interval and provenance
    layer_profile: LayerProfile | None = None  # real boards, --per-layer: per-layer times
    board_name: str | None = None  # the labgrid place it ran on (None: the device itself, or stored before)
