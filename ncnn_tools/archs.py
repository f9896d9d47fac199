"""The three runtimes edgebench builds: what compiler, toolchain file and NCNN options each one takes."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.layers import KEPT_LAYERS

TOOLCHAIN_DIR = Path(__file__).parent / "toolchains"

# Every runtime: static, CPU only, threaded with GCC's libgomp (linked statically), nothing but the library.
# libgomp rather than NCNN's simpleomp: simpleomp starts a pool of get_cpu_count()-1 threads at the first
# parallel region whatever num_threads asks, so a --threads 1 run on a 4-core board (or its emulated view)
# would run 4 threads and the counting plugin could not count it; libgomp runs a team of one on the calling
# thread and starts threads only for num_threads > 1. It is also what NCNN's Linux builds (and benchncnn's
# published figures) use by default.
COMMON_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DNCNN_BUILD_BENCHMARK=OFF",  # default ON, and the sdist has no benchmark/ folder
    "-DNCNN_BUILD_TOOLS=OFF",
    "-DNCNN_BUILD_EXAMPLES=OFF",
    "-DNCNN_BUILD_TESTS=OFF",
    "-DNCNN_PYTHON=OFF",
    "-DNCNN_VULKAN=OFF",
    "-DNCNN_SHARED_LIB=OFF",
    "-DNCNN_OPENMP=ON",
    "-DNCNN_SIMPLEOMP=OFF",
    "-DNCNN_SIMPLEOCV=OFF",
    "-DNCNN_C_API=OFF",
    "-DNCNN_PIXEL_ROTATE=OFF",
    "-DNCNN_PIXEL_AFFINE=OFF",
    "-DNCNN_PIXEL_DRAWING=OFF",
)

# The profiling variant (edgebench run --per-layer): NCNN times every layer it runs and prints each to stderr.
# It slows every layer a little, so it is a runtime of its own and never the timed one.
PROFILE_OPTIONS = ("-DNCNN_BENCHMARK=ON",)

ARCH_NAMES = ("armv7", "aarch64", "host")


@dataclass(frozen=True)
class ArchSpec:
    name: str
    toolchain: Path | None  # CMake toolchain file; None = the host's default compilers
    c_compiler: str
    cxx_compiler: str
    debian_package: str  # what to apt-get install when the compiler is missing
    ncnn_options: tuple[str, ...]  # on top of COMMON_OPTIONS
    check_no_vfpv4: bool = False  # refuse to publish a binary whose ELF attributes mention VFPv4
    extra_layers: tuple[str, ...] = ()  # kept on top of layers.KEPT_LAYERS for this arch

    @property
    def kept_layers(self) -> tuple[str, ...]:
        return tuple(sorted(set(KEPT_LAYERS) | set(self.extra_layers)))

    def require_compilers(self) -> None:
        """A clear error naming the Debian package when the (cross) compiler is not on PATH."""
        for exe in (self.c_compiler, self.cxx_compiler):
            if shutil.which(exe) is None:
                raise EdgebenchError(f"{exe} not found on PATH: cannot build the {self.name} runtime",
                                     hint=f"sudo apt-get install {self.debian_package}")


ARMV7 = ArchSpec(
    name="armv7",
    toolchain=TOOLCHAIN_DIR / "armv7.cmake",
    c_compiler="arm-linux-gnueabihf-gcc",
    cxx_compiler="arm-linux-gnueabihf-g++",
    debian_package="g++-arm-linux-gnueabihf",
    # NCNN would also build VFPv4 variants (dispatched at run time) and tag the whole binary VFPv4.
    ncnn_options=("-DNCNN_VFPV4=OFF",),
    check_no_vfpv4=True,
)

AARCH64 = ArchSpec(
    name="aarch64",
    toolchain=TOOLCHAIN_DIR / "aarch64.cmake",
    c_compiler="aarch64-linux-gnu-gcc",
    cxx_compiler="aarch64-linux-gnu-g++",
    debian_package="g++-aarch64-linux-gnu",
    # Cortex-A53/A72 are ARMv8.0: the ARMv8.2+ variants (fp16 arithmetic, dotprod, bf16, i8mm, SVE) would
    # only be dispatched on newer cores, so they are not built.
    ncnn_options=("-DNCNN_ARM82=OFF", "-DNCNN_ARM84BF16=OFF", "-DNCNN_ARM84I8MM=OFF", "-DNCNN_ARM86SVE=OFF"),
)


def _x86_host_options(cpu_flags: set[str]) -> tuple[str, ...]:
    """One code path for this machine's CPU instead of every AVX/AVX-512 variant (the full build is ~12 min).

    The host runtime only ever runs here (parity, quick runs), so building for the CPU at hand is safe.
    """
    off = ("-DNCNN_AVX512=OFF", "-DNCNN_AVXVNNI=OFF", "-DNCNN_AVXVNNIINT8=OFF", "-DNCNN_AVXVNNIINT16=OFF",
           "-DNCNN_AVXNECONVERT=OFF", "-DNCNN_FMA4=OFF", "-DNCNN_XOP=OFF")
    if {"avx2", "fma", "f16c"} <= cpu_flags:
        return ("-DNCNN_RUNTIME_CPU=OFF", "-DNCNN_AVX=ON", "-DNCNN_FMA=ON", "-DNCNN_F16C=ON", "-DNCNN_AVX2=ON", *off)
    return ("-DNCNN_RUNTIME_CPU=OFF", "-DNCNN_AVX=OFF", *off)  # SSE2 only


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def host_spec() -> ArchSpec:
    x86 = platform.machine() in ("x86_64", "AMD64")
    # On x86, convolution's int8 path calls Gemm's x86 kernels directly (a link-time need, not create_layer).
    return ArchSpec(name="host", toolchain=None, c_compiler="gcc", cxx_compiler="g++", debian_package="g++",
                    ncnn_options=_x86_host_options(_cpu_flags()) if x86 else (),
                    extra_layers=("Gemm",) if x86 else ())


def arch_spec(name: str) -> ArchSpec:
    if name == "armv7":
        return ARMV7
    if name == "aarch64":
        return AARCH64
    if name == "host":
        return host_spec()
    raise EdgebenchError(f"unknown arch {name!r}", hint=f"use one of: {', '.join(ARCH_NAMES)}")
