"""A board's cache hierarchy: as devices.yaml declares it (sizes in KiB), as the board's kernel lists it in
its system view, and as the counting plugin models it. One type and one validity rule for all three."""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("l1d", "l1i", "l2")  # the plugin's order, and the signature's


def _pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


@dataclass(frozen=True)
class CacheLevel:
    size_kib: int
    ways: int
    line_bytes: int

    @property
    def size_bytes(self) -> int:
        return self.size_kib * 1024

    @property
    def sets(self) -> int:
        return self.size_bytes // (self.ways * self.line_bytes)

    def problem(self) -> str | None:
        """Why no cache could have this geometry, or None. Lines and sets are indexed by bit masks (as in a
        kernel's cacheinfo and the plugin's model); the way count is free (the Cortex-A72's L1I is 3-way)."""
        if not _pow2(self.line_bytes):
            return f"the line size must be a power of two, got {self.line_bytes}"
        per_set = self.ways * self.line_bytes
        if self.ways <= 0 or self.size_bytes % per_set or not _pow2(self.size_bytes // per_set):
            return (f"{self.size_kib} KiB, {self.ways}-way with {self.line_bytes}-byte lines gives no power-of-two "
                    "number of sets")
        return None

    def arg(self) -> str:
        """size bytes:ways:line bytes, as the plugin takes it."""
        return f"{self.size_bytes}:{self.ways}:{self.line_bytes}"


@dataclass(frozen=True)
class CacheGeometry:
    l1i: CacheLevel
    l1d: CacheLevel
    l2: CacheLevel | None = None

    def levels(self) -> list[tuple[str, CacheLevel]]:
        """(name, level) of every declared level, in LEVELS order."""
        return [(name, getattr(self, name)) for name in LEVELS if getattr(self, name) is not None]

    def signature(self) -> str | None:
        """Every level as one comparable string ("l1d=32768:4:32 l1i=... l2=..."), None without an L2: what
        calibrated constants are keyed by."""
        if self.l2 is None:
            return None
        return " ".join(f"{name}={level.arg()}" for name, level in self.levels())


# Cortex-A9 in the i.MX6: 32 KiB 4-way L1s, PL310 512 KiB 16-way L2, 32-byte lines everywhere.
IMX6_CACHES = CacheGeometry(l1i=CacheLevel(32, 4, 32), l1d=CacheLevel(32, 4, 32), l2=CacheLevel(512, 16, 32))
