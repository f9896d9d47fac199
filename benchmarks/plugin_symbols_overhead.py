"""What the counting plugin's symbols=on mode costs: wall time of one model under qemu-arm -cpu cortex-a9
with the plugin, symbols off vs on (same runner, same counts otherwise), best of N runs each.

    python benchmarks/plugin_symbols_overhead.py ARTIFACT_FOLDER [--runs 3] [--loops 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgebench.export.manifest import load_manifest
from edgebench.ncnn_tools import plugin
from edgebench.ncnn_tools.build import build_runtime
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.results.result import RunSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--loops", type=int, default=3)
    args = ap.parse_args()
    m = load_manifest(args.artifact)
    runner = build_runtime("armv7", progress=False).runner
    options = RunnerOptions(param=str(args.artifact / m.param_file), bin=str(args.artifact / m.bin_file),
                            shape=tuple(m.ncnn_input.shape), input_blob=m.ncnn_input.name,
                            output_blob=m.ncnn_output.name, settings=RunSettings(loops=args.loops, warmup=1))
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        for symbols in (False, True) * args.runs:
            start = time.perf_counter()
            run = plugin.run_counted(["qemu-arm", "-cpu", "cortex-a9"], [str(runner), *options.argv()],
                                     Path(tmp) / f"c{symbols}.jsonl", symbols=symbols)
            elapsed = time.perf_counter() - start
            assert run.returncode == 0, run.stderr
            best[symbols] = min(best.get(symbols, elapsed), elapsed)
        same = plugin.parse_counts(Path(tmp) / "cTrue.jsonl") == plugin.parse_counts(Path(tmp) / "cFalse.jsonl")
        functions = len(plugin.parse_function_counts(Path(tmp) / "cTrue.jsonl"))
    print(f"{m.name}: 1 warm-up + {args.loops} counted loops, best of {args.runs}")
    print(f"  symbols off: {best[False]:.2f} s   symbols on: {best[True]:.2f} s   "
          f"ratio {best[True] / best[False]:.2f}x   ({functions} functions with counts; window counts "
          f"{'identical' if same else 'DIFFER'})")


if __name__ == "__main__":
    main()
