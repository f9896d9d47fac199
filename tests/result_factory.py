"""RunResult objects built in code: the real input of the store and the reports (what `edgebench run` writes).

Shared by test_store.py, test_report.py and the concurrent-writer subprocesses of test_store.py.
"""

from __future__ import annotations

import numpy as np

from edgebench.results.result import BoardState, IterationCounts, RunResult, RunSettings


def counts(i: int, scale: int = 1) -> IterationCounts:
    base = 1_234_567_890_123 * scale  # beyond 32 bits on purpose
    return IterationCounts(
        instructions=base + i,
        simd_fp=base // 3,
        integer=base // 2,
        loads=base // 4 + i,
        stores=base // 8,
        branches=base // 10,
        bytes_loaded=base,
        bytes_stored=base // 2,
        l1d_misses=1000 + i,
        l1i_misses=10,
        l2_misses=100 + i,
    )


def make_result(
    run_id: str,
    model: str,
    *,
    device: str = "imx6",
    median_ms: float = 100.0,
    noise: float = 0.01,
    n: int = 30,
    seed: int = 0,
    emulated: bool = False,
    modeled_ms: float | None = None,
    mflops: float | None = 140.0,
    counters: int | None = None,
    status: str = "ok",
    board_flags: tuple[str, ...] = (),
) -> RunResult:
    """A plausible result; samples are lognormal around `median_ms` with relative spread `noise`."""
    rng = np.random.default_rng(seed)
    samples = [] if status != "ok" else [float(v) for v in median_ms * rng.lognormal(0.0, noise, size=n)]
    return RunResult(
        run_id=run_id,
        model=model,
        artifact_sha256="ab" * 32,
        device=device,
        arch="armv7",
        settings=RunSettings(threads=1, warmup=5, loops=n, min_time_ms=0.5, seed=7, fp16_storage=False),
        ncnn_version="1.0.20261020",
        runtime_key="armv7-a9-3f2e1d",
        samples_ms=samples,
        load_ms=12.5 + seed,
        first_inference_ms=median_ms * 1.7,
        peak_rss_kb=20480 + seed,
        output_checksum={"out0": 0.1 + seed, "sum_abs": 123.456},
        output_cosine_vs_host=0.999987,
        board=BoardState(
            uname="Linux imx6 4.1.15 armv7l",
            cpu_model="ARMv7 Processor rev 10 (v7l)",
            hwcaps=["half", "thumb", "vfpv3", "neon"],
            governor="performance",
            freq_khz_before=792000,
            freq_khz_after=792000 if not board_flags else 396000,
            temp_c_before=41.5,
            temp_c_after=47.25,
            loadavg=[0.1, 0.05, 0.01],
            emulated=emulated,
            emulator="qemu-arm -cpu cortex-a9" if emulated else None,
            emulator_version="7.2.0" if emulated else None,
            flags=list(board_flags),
        ),
        started_utc="2026-11-23T10:00:00Z",
        finished_utc="2026-11-23T10:00:09Z",
        status=status,
        error=None if status == "ok" else "runner died with SIGILL (Illegal instruction)",
        counters=None if counters is None else [counts(i) for i in range(counters)],
        modeled_ms=modeled_ms,
        mflops=mflops,
    )
