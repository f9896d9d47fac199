"""How long a full-system board (default the i.MX 6 Quad, imx6q-sys) takes: its image build from a cold cache, boot to the
first SSH login, power-off, and a whole `edgebench run` starting with no image at all.

    python benchmarks/system_boot.py [--device imx6q-sys] [--rounds 3] [--no-cold]

Boots use the cached image (built first when there is none) and a scratch data dir. The cold figures use a
scratch cache holding links to everything in EDGEBENCH_CACHE except the system images (so the NCNN runtimes
are not rebuilt) and time, in fresh processes, `edgebench target image imx6q` and then, after dropping that
image again, `edgebench run --device imx6q-sys --model fd_mobilenet_0.25x --threads 2` (build + boot + export
+ deploy + run). All times are wall times on this host under TCG; nothing here is a board latency. Prints the
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "fd_mobilenet_0.25x"
GOAL_BOOT_S, GOAL_BUILD_S = 60.0, 180.0  # issue 18's goals on a 2-core host


def _boots(name: str, rounds: int) -> None:
    from edgebench.boards import system_board, targets
    from edgebench.boards.devices import get_device

    device = get_device(name)
    boot_s, down_s = [], []
    for i in range(rounds):
        start = time.monotonic()
        targets.target_up(device)
        up = time.monotonic() - start
        machine = system_board.machine_status(device).machine
        start = time.monotonic()
        clean = system_board.shutdown(device)
        down_s.append(time.monotonic() - start)
        boot_s.append(machine.ssh_after_s)
        print(f"  round {i + 1}: QEMU start to SSH login {machine.ssh_after_s:.1f} s (target up {up:.1f} s), "
              f"down {down_s[-1]:.1f} s ({clean.value})", flush=True)
    print(f"boot to SSH: median {statistics.median(boot_s):.1f} s over {rounds} boots "
          f"(goal <= {GOAL_BOOT_S:g} s); target down: median {statistics.median(down_s):.1f} s")


def _timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"edgebench {' '.join(argv[3:5])} failed:\n{done.stderr[-2000:]}")
    return took


def _cold(cache: Path, name: str) -> None:
    from edgebench.boards.devices import get_device

    image = get_device(name).system.image
    edgebench = [sys.executable, "-c", "from edgebench.cli import main; main()"]
    with tempfile.TemporaryDirectory(prefix="edgebench-system-boot-") as tmp:
        scratch = Path(tmp) / "cache"
        scratch.mkdir()
        for entry in cache.iterdir():
            if entry.name != "system-images":
                (scratch / entry.name).symlink_to(entry)
        env = {**os.environ, "EDGEBENCH_CACHE": str(scratch), "EDGEBENCH_DATA": str(Path(tmp) / "data")}
        build = _timed([*edgebench, "target", "image", image], env, tmp)
        print(f"image build, cold cache (package lists, download, initramfs): {build:.1f} s "
              f"(goal <= {GOAL_BUILD_S:g} s)", flush=True)
        shutil.rmtree(scratch / "system-images")
        try:
            run = _timed([*edgebench, "run", "--device", name, "--model", MODEL, "--threads", "2"], env, tmp)
        finally:
            subprocess.run([*edgebench, "target", "down", name], env=env, cwd=tmp, capture_output=True)
        print(f"edgebench run --device {name} --model {MODEL} --threads 2 from a cold image cache: {run:.1f} s "
              f"(image build + boot + export + deploy + run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="imx6q-sys", help="a full-system board (imx6q-sys, rpi3-sys)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true", help="only the boots (no cold image build or run)")
    args = parser.parse_args()
    from edgebench.paths import cache_dir

    cache = cache_dir()
    with tempfile.TemporaryDirectory(prefix="edgebench-system-data-") as data:
        os.environ["EDGEBENCH_DATA"] = data
        _boots(args.device, args.rounds)
    if not args.no_cold:
        _cold(cache, args.device)


if __name__ == "__main__":
    main()
