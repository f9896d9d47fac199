"""What does counting cost? Wall time under QEMU with the counting plugin vs without.

Three conditions, rounds alternating so load from other work on the machine hits all alike:
  bare      qemu-{arm,aarch64} -cpu ...                     no plugin
  no-cache  ... -plugin eb_counters.so,...,cache=off        instruction classes (inline) + bytes (per-access callback)
  cache     ... -plugin eb_counters.so,...                  the above + L1D/L1I/L2 model
on the self-test guest (NEON multiply-adds over a 4 KiB stack buffer, 5 marked iterations), and on the real
edgebench-runner (armv7, Cortex-A9) with NCNN's reference mobilenet.param when the runtime can be built.
For the runner, the in-window figure compares the runner's own median timed iteration (samples_ms): the
plugin's callbacks return at once outside windows, so model loading and warm-up cost less than iterations.

Then the cost of counting the whole paper suite (the FD-MobileNet latency table's nine models) on the emulated
i.MX6: each model exported once (cached under the edgebench cache, not timed), then counted with 1 warm-up + 1
timed iteration (the counts are exact, more loops add nothing), 2 QEMU processes at a time. Goal: <= 10 min
wall on 2 cores. Each model's modeled i.MX6 latency is printed too (`edgebench report` sets such figures
beside the paper's Table 4 speedups).

    python benchmarks/plugin_overhead.py [--rounds 3] [--work 20000] [--runner-loops 2] [--skip-runner]
                                         [--skip-paper-suite]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgebench.caches import IMX6_CACHES
from edgebench.ncnn_tools import plugin
from edgebench.ncnn_tools.reference import REFERENCE_DIR

REFERENCE = REFERENCE_DIR
CONDITIONS = ("bare", "no-cache", "cache")


def condition_args(condition: str, out: Path, lib: Path) -> list[str]:
    if condition == "bare":
        return []
    return plugin.plugin_args(out, None if condition == "no-cache" else IMX6_CACHES, lib=lib)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + sys of the child: less sensitive to other load on a shared
    machine) and stdout."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu, proc.stdout


def measure(qemu: tuple[str, ...], program: list[str], rounds: int, lib: Path, scratch: Path):
    """Wall seconds and stdout per condition, rounds interleaved."""
    results: dict[str, list[tuple[float, float, str]]] = {c: [] for c in CONDITIONS}
    for _ in range(rounds):
        for condition in CONDITIONS:
            out = scratch / f"{condition}.jsonl"
            results[condition].append(timed([*qemu, *condition_args(condition, out, lib), *program]))
    return results


def report(title: str, results, extra=None) -> None:
    bare_wall = min(r[0] for r in results["bare"])
    bare_cpu = min(r[1] for r in results["bare"])
    print(f"\n{title}")
    for condition in CONDITIONS:
        wall = min(r[0] for r in results[condition])
        cpu = min(r[1] for r in results[condition])
        line = f"  {condition:9s} wall {wall:7.2f} s  x{wall / bare_wall:5.2f}   cpu {cpu:7.2f} s  x{cpu / bare_cpu:5.2f}"
        if extra:
            line += extra(condition)
        print(line)


def selftest(arch: str, args, lib: Path, scratch: Path) -> None:
    exe = plugin.build_selftest(arch)
    program = [str(exe), "work", "5", str(args.work)]
    results = measure(plugin.selftest_qemu(arch), program, args.rounds, lib, scratch)
    counts = plugin.parse_counts(scratch / "cache.jsonl")
    per_iter = counts[1]
    print(f"\n[{arch}] self-test: {per_iter.instructions:,} instructions, "
          f"{per_iter.loads + per_iter.stores:,} load/store instructions per iteration")
    report(f"[{arch}] self-test `work 5 {args.work}`, best of {args.rounds} (whole run)", results)


def runner(args, lib: Path, scratch: Path) -> None:
    from edgebench.ncnn_tools.build import build_runtime  # the runtime owner's builder (cached)

    param = REFERENCE / "mobilenet.param"
    if not param.exists():
        print(f"\n(skipping the runner: {param} not found)")
        return
    runtime = build_runtime("armv7", progress=False)
    program = [str(runtime.runner), "--param", str(param), "--loops", str(args.runner_loops), "--warmup", "0"]
    results = measure(("qemu-arm", "-cpu", "cortex-a9"), program, 1, lib, scratch)

    def median_iteration_ms(condition: str) -> float:
        return statistics.median(json.loads(results[condition][0][2])["samples_ms"])

    bare_iter = median_iteration_ms("bare")
    counts = plugin.parse_counts(scratch / "cache.jsonl")
    print(f"\n[armv7] edgebench-runner mobilenet.param: {counts[-1].instructions:,} instructions, "
          f"{counts[-1].l1d_misses:,} L1D / {counts[-1].l2_misses:,} L2 misses per iteration")
    report(f"[armv7] runner mobilenet.param, --warmup 0 --loops {args.runner_loops} (whole run; "
           "then the runner's median timed iteration)", results,
           lambda c: f"   iteration {median_iteration_ms(c):8.0f} ms  x{median_iteration_ms(c) / bare_iter:5.2f}")


def paper_suite(lib: Path, scratch: Path) -> None:
    from edgebench.modeling import latency_model
    from edgebench.boards.devices import PACKAGED_DEVICES, parse_devices_file
    from edgebench.models.registry import suite
    from edgebench.ncnn_tools.build import build_runtime
    from edgebench.ncnn_tools.runner_options import RunnerOptions
    from edgebench.paths import cache_dir
    from edgebench.results.result import RunSettings
    from edgebench.bench.artifacts import prepare_artifact

    device = parse_devices_file(PACKAGED_DEVICES)["imx6"]
    names = suite("paper")
    root = cache_dir() / "paper-artifacts"
    print(f"\n[armv7] paper suite on the emulated i.MX6: exporting {len(names)} models (cached, not timed)...",
          flush=True)
    artifacts = [prepare_artifact(name, root, lambda stage: None) for name in names]
    runtime = build_runtime("armv7", progress=False)
    settings = RunSettings(threads=1, warmup=1, loops=1)

    def count(item) -> tuple[float, list]:
        manifest, folder = item
        options = RunnerOptions(param=str(folder / manifest.param_file), bin=str(folder / manifest.bin_file),
                                shape=tuple(manifest.ncnn_input.shape), input_blob=manifest.ncnn_input.name,
                                output_blob=manifest.ncnn_output.name, settings=settings)
        out = scratch / f"paper-{manifest.name}.jsonl"
        start = time.perf_counter()
        run = plugin.run_counted(device.emulator.argv, [str(runtime.runner), *options.argv()], out,
                                 device.cache)
        if run.returncode != 0:
            raise SystemExit(f"{manifest.name}: runner exit {run.returncode}: {run.stdout[-300:]} {run.stderr[-300:]}")
        return time.perf_counter() - start, plugin.parse_counts(out)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(count, artifacts))
    wall = time.perf_counter() - start
    constants = latency_model.load_constants()
    print(f"  {'model':22s} {'counted in':>10s} {'instructions':>14s} {'modeled i.MX6 latency':>24s}")
    for (manifest, _), (seconds, counts) in zip(artifacts, done):
        modeled = latency_model.modeled_ms_for(device, counts, constants)
        print(f"  {manifest.name:22s} {seconds:8.1f} s {counts[0].instructions:14,} "
              + (f"{modeled:13.1f} ms (modeled)" if modeled is not None else f"{'(no constants)':>24s}"))
    print(f"  whole suite counted in {wall:.0f} s wall ({wall / 60:.1f} min; goal <= 10 min on 2 cores), "
          f"{sum(s for s, _ in done):.0f} s summed over models")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per condition for the self-test")
    parser.add_argument("--work", type=int, default=20000, help="self-test rounds per iteration")
    parser.add_argument("--runner-loops", type=int, default=2, help="timed iterations of the runner")
    parser.add_argument("--skip-runner", action="store_true", help="skip the runner with mobilenet.param")
    parser.add_argument("--skip-paper-suite", action="store_true", help="skip counting the paper suite")
    args = parser.parse_args()
    lib = plugin.build_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for arch in ("armv7", "aarch64"):
            selftest(arch, args, lib, scratch)
        if not args.skip_runner:
            runner(args, lib, scratch)
        if not args.skip_paper_suite:
            paper_suite(lib, scratch)


if __name__ == "__main__":
    main()
