"""Does edgebench-runner's measurement cost anything? Runner vs a bare benchncnn-style loop, same host libncnn.

Both binaries link the host runtime's static libncnn and run the same param-only model single-threaded.
Rounds alternate A/B (runner, bare, runner, bare, ...) so drift and other load on the machine hit both
alike; the figure is median(runner samples) / median(bare samples), goal <= 1.01.

    python benchmarks/runner_overhead.py [--model mobilenet] [--rounds 20] [--loops 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from edgebench.ncnn_tools.build import build_runtime
from edgebench.ncnn_tools.local_run import run_runner
from edgebench.ncnn_tools.reference import REFERENCE_DIR
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.paths import cache_dir
from edgebench.results.result import RunSettings

REFERENCE = REFERENCE_DIR
BARE_SOURCE = Path(__file__).resolve().parents[1] / "ncnn_tools" / "bare_loop" / "bare_loop.cpp"


def build_bare_loop(ncnn_prefix: Path, key: str) -> Path:
    """Compile the bare loop against the runtime's own libncnn (static, like the runner)."""
    exe = cache_dir() / "benchmarks" / f"bare_loop-{key[:16]}"
    if exe.exists() and exe.stat().st_mtime >= BARE_SOURCE.stat().st_mtime:
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["g++", "-O3", "-DNDEBUG", "-std=c++11", str(BARE_SOURCE), "-I", str(ncnn_prefix / "include" / "ncnn"),
           str(ncnn_prefix / "lib" / "libncnn.a"), "-static", "-fopenmp", "-o", str(exe)]  # libncnn is built with OpenMP
    subprocess.run(cmd, check=True)
    return exe


def bare_samples(exe: Path, param: Path, shape: tuple[int, int, int], warmup: int, loops: int) -> list[float]:
    out = subprocess.run([str(exe), str(param), *map(str, shape), str(warmup), str(loops)],
                         capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet", help="a param in ncnn_tools/reference_models/")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    runtime = build_runtime("host")
    bare = build_bare_loop(runtime.ncnn_prefix, runtime.key)
    param = REFERENCE / f"{args.model}.param"
    options = RunnerOptions(param=str(param), settings=RunSettings(warmup=args.warmup, loops=args.loops))

    runner_ms: list[float] = []
    bare_ms: list[float] = []
    shape: tuple[int, int, int] | None = None
    for _ in range(args.rounds):
        report = run_runner(runtime.runner, options)
        runner_ms += report.samples_ms
        shape = tuple(report.settings.shape)  # type: ignore[assignment]
        bare_ms += bare_samples(bare, param, shape, args.warmup, args.loops)

    ratio = statistics.median(runner_ms) / statistics.median(bare_ms)
    print(f"model {args.model} {shape}, host runtime {runtime.key[:16]}, {args.rounds} A/B rounds x {args.loops} loops")
    print(f"runner median {statistics.median(runner_ms):.3f} ms  (min {min(runner_ms):.3f})")
    print(f"bare   median {statistics.median(bare_ms):.3f} ms  (min {min(bare_ms):.3f})")
    print(f"ratio of medians runner/bare = {ratio:.4f}  (goal <= 1.01: {'met' if ratio <= 1.01 else 'NOT met'})")
    # On a busy machine the medians carry the load; the minimums show the code paths' own cost.
    print(f"ratio of minimums runner/bare = {min(runner_ms) / min(bare_ms):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
