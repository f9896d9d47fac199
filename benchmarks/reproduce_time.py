"""Wall time of `edgebench reproduce fd-mobilenet` on the emulated i.MX6: cold (empty cache, data and artifact
folders: downloads NCNN's source, cross-builds the runtime, exports, counts) and warm (everything done:
reports again) and a fresh run on warm caches (exports and builds cached, every model counted again).
Goal: warm <= 10 min on 2 cores.

    python benchmarks/reproduce_time.py [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-cold", action="store_true", help="use the usual cache (no NCNN download or cold build)")
    args = ap.parse_args()
    exe = shutil.which("edgebench")
    with tempfile.TemporaryDirectory(prefix="edgebench-reproduce-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "EDGEBENCH_DATA": str(root / "data")}
        if not args.skip_cold:
            env["EDGEBENCH_CACHE"] = str(root / "cache")
        cmd = [exe, "reproduce", "fd-mobilenet", "--artifacts", str(root / "artifacts"), "--out", str(root / "out")]
        first = timed(cmd, env, root)
        warm = timed(cmd, env, root)
        fresh = timed([*cmd, "--fresh"], env, root)
    print(f"{'cold' if not args.skip_cold else 'first (usual cache)'}: {first:7.1f} s")
    print(f"warm (all done, report again): {warm:7.1f} s")
    print(f"fresh run on warm caches (count all 10 models again): {fresh:7.1f} s   (goal: warm <= 600 s)")


if __name__ == "__main__":
    main()
