"""Time to export + convert the whole paper suite, per stage and in total (goal: <= 60 s on 2 cores).

    python benchmarks/export_speed.py [--suite paper]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from edgebench.export.pipeline import export_artifact
from edgebench.export.source import resolve_source
from edgebench.models.registry import suite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="paper")
    args = ap.parse_args()
    per_stage: dict[str, float] = defaultdict(float)
    rows = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for name in suite(args.suite):
            marks: list[tuple[str, float]] = []
            t0 = time.perf_counter()
            export_artifact(resolve_source(name), Path(out), on_stage=lambda s: marks.append((s, time.perf_counter())))
            t1 = time.perf_counter()
            for (stage, start), (_, end) in zip(marks, marks[1:] + [("end", t1)]):
                per_stage[stage] += end - start
            rows.append((name, t1 - t0))
    total = time.perf_counter() - t_all
    for name, secs in rows:
        print(f"{name:28s} {secs:6.2f} s")
    print("per stage (summed over the suite):")
    for stage, secs in per_stage.items():
        print(f"  {stage:28s} {secs:6.2f} s")
    print(f"total {total:.1f} s for {len(rows)} models (goal <= 60 s)")


if __name__ == "__main__":
    main()
