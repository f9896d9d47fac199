"""How fast the results store writes and reads, and how fast a Summary (2000-resample bootstrap) is computed.

    python benchmarks/store_speed.py [--results 50] [--samples 1000] [--counters 100]

Writes into a temporary store (fsync per commit, as in real use) and prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edgebench.results.result import BoardState, IterationCounts, RunResult, RunSettings
from edgebench.results.stats import summarize
from edgebench.results.store import Store


def _result(run_id: str, i: int, samples: int, counters: int, rng: np.random.Generator) -> RunResult:
    counts = IterationCounts(*(int(v) for v in rng.integers(1, 10**12, size=11)))
    return RunResult(
        run_id=run_id, model=f"model_{i}", artifact_sha256="0" * 64, device="bench", arch="armv7",
        settings=RunSettings(), ncnn_version="1.0.20261020", runtime_key="k",
        samples_ms=[float(v) for v in rng.lognormal(4.0, 0.05, size=samples)], load_ms=10.0,
        first_inference_ms=80.0, peak_rss_kb=20000, output_checksum={"out0": 1.0}, output_cosine_vs_host=1.0,
        board=BoardState(uname="bench"), started_utc="", finished_utc="", counters=[counts] * counters,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=50)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--counters", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.sqlite3"
        with Store(path) as store:
            run_id = store.begin_run("bench", [])
            results = [_result(run_id, i, args.samples, args.counters, rng) for i in range(args.results)]
            start = time.perf_counter()
            for r in results:
                store.add_result(r)
            write = time.perf_counter() - start
            start = time.perf_counter()
            back = store.results(run_id)
            read = time.perf_counter() - start
            assert back == results
            start = time.perf_counter()
            store.runs(20)
            listing = time.perf_counter() - start
        size = path.stat().st_size
    print(f"store: {args.results} results x {args.samples} samples x {args.counters} counter rows")
    print(f"  add_result  {write / args.results * 1e3:8.2f} ms per result (committed, fsync)")
    print(f"  results()   {read * 1e3:8.2f} ms for the run ({read / args.results * 1e3:.2f} ms per result)")
    print(f"  runs(20)    {listing * 1e3:8.2f} ms")
    print(f"  file        {size / 1e6:8.2f} MB")
    for n in (20, 1000, 100_000):
        x = rng.lognormal(4.0, 0.05, size=n)
        summarize(x)  # first call pays numpy's lazy imports
        start = time.perf_counter()
        for _ in range(10):
            summarize(x)
        each = (time.perf_counter() - start) / 10
        print(f"summarize(n={n:>6})  {each * 1e3:8.2f} ms (2000 bootstrap resamples, mean of 10)")


if __name__ == "__main__":
    main()
