"""What does `edgebench run --per-layer` cost? The profiling runtime (NCNN_BENCHMARK=ON) against the timed one.

Same model, settings and machine; rounds alternate A/B (timed, profiled, timed, ...) so drift and other load hit
both alike. The figure is median(profiled samples) / median(unprofiled samples) - 1, what `run --per-layer`
prints with each profile. Per-layer sums are printed beside it: the layers' medians cover the timed region
except the extractor's own work. On --arch armv7/aarch64 the runtimes run under qemu-user: the overhead is
then of QEMU's wall time (the extra clock reads and prints are emulated too), an upper bound for a board.

    python benchmarks/per_layer_overhead.py [--arch aarch64] [--model mobilenet] [--rounds 5] [--loops 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from edgebench.ncnn_tools.build import build_runtime
from edgebench.ncnn_tools.local_run import run_runner
from edgebench.ncnn_tools.reference import REFERENCE_DIR
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.results.result import RunSettings

EMULATORS = {"armv7": ["qemu-arm", "-cpu", "cortex-a9"], "aarch64": ["qemu-aarch64", "-cpu", "cortex-a53"],
             "host": []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="aarch64", choices=sorted(EMULATORS))
    parser.add_argument("--model", default="mobilenet", help="a param in ncnn_tools/reference_models/")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loops", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    timed, profiled = build_runtime(args.arch), build_runtime(args.arch, profile=True)
    options = RunnerOptions(param=str(REFERENCE_DIR / f"{args.model}.param"),
                            settings=RunSettings(warmup=args.warmup, loops=args.loops, threads=args.threads))
    emulator = EMULATORS[args.arch]
    plain_ms: list[float] = []
    profiled_ms: list[float] = []
    layer_sums: list[float] = []
    layers = 0
    for i in range(args.rounds):
        plain_ms += run_runner(timed.runner, options, emulator).samples_ms
        report = run_runner(profiled.runner, options, emulator)
        profiled_ms += report.samples_ms
        layers = len(report.layers)
        layer_sums += [sum(x.samples_ms[k] for x in report.layers) for k in range(len(report.samples_ms))]
        print(f"round {i + 1}/{args.rounds}: unprofiled {statistics.median(plain_ms):.2f} ms, profiled "
              f"{statistics.median(profiled_ms):.2f} ms", file=sys.stderr)
    plain, prof = statistics.median(plain_ms), statistics.median(profiled_ms)
    where = f"{args.arch} under {emulator[0]}" if emulator else "this host"
    print(f"{args.model} on {where}, {args.threads} thread(s), {len(plain_ms)} samples each: unprofiled median "
          f"{plain:.2f} ms, profiled {prof:.2f} ms -> overhead {prof / plain - 1:+.2%}; the {layers} layers' "
          f"times sum to {statistics.median(layer_sums):.2f} ms ({statistics.median(layer_sums) / prof:.1%} of "
          "the profiled iteration)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
