"""ELF attribute checks on built binaries: an armv7 runtime that claims VFPv4 must never reach a Cortex-A9."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgebench.errors import EdgebenchError

# readelf -A wording for what the A9 lacks: VFPv4 (Tag_FP_arch) and NEON with fused multiply-add.
_FORBIDDEN = ("vfpv4", "fused-mac")


def arm_attributes(binary: Path) -> str:
    """`readelf -A` of an ARM ELF (the cross binutils' readelf when present, else the host's)."""
    readelf = shutil.which("arm-linux-gnueabihf-readelf") or shutil.which("readelf")
    if readelf is None:
        raise EdgebenchError("readelf not found: cannot check the armv7 binary's FPU attributes",
                             hint="sudo apt-get install binutils-arm-linux-gnueabihf")
    return subprocess.run([readelf, "-A", str(binary)], capture_output=True, text=True, check=True).stdout


def require_no_vfpv4(binary: Path) -> None:
    """Refuse a binary whose attributes mention VFPv4: a real i.MX6 dies on it with Illegal instruction."""
    attributes = arm_attributes(binary)
    if "Tag_FP_arch" not in attributes:
        raise EdgebenchError(f"{binary}: no FPU attributes in readelf -A output; is this an armv7 binary?")
    bad = [line.strip() for line in attributes.splitlines() if any(f in line.lower() for f in _FORBIDDEN)]
    if bad:
        raise EdgebenchError(f"{binary.name} is tagged for a newer FPU than the Cortex-A9 has: {'; '.join(bad)}",
                             hint="the armv7 toolchain must use -mfpu=neon and NCNN_VFPV4=OFF")
