"""How long `edgebench` takes to start and answer for the commands that export nothing, and whether torch was
imported on the way (it costs seconds; only exporting needs it).

    python benchmarks/cli_startup.py [--rounds 5]

Each command runs in a fresh interpreter with an empty data dir (no store: `results` and `report` answer at
once) and the packaged inventory; `devices` only asks each emulated target whether it is up (none is
started). Prints the median
wall time per command and the modules of note it imported; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "--help": ["--help"],
    "devices": ["devices", "--json"],
    "results": ["results"],
    "report": ["report"],
    "unknown model": ["export", "no_such_model"],
}
HEAVY = ("torch", "onnx", "onnxruntime", "matplotlib", "paramiko")

# Runs the CLI in-process and reports which heavy modules it imported (the exit code is the CLI's own).
_PROBE = f"""
import json, sys
from edgebench.cli import main
try:
    main(sys.argv[1:], prog_name="edgebench")
except SystemExit:
    pass
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.__stderr__)
"""


def _time(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from edgebench.cli import main; main()", *args], env=env,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def _imported(args: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="edgebench-startup-") as tmp:
        env = {**os.environ, "EDGEBENCH_DATA": os.path.join(tmp, "data"), "XDG_CONFIG_HOME": os.path.join(tmp, "cfg")}
        print(f"{'command':<24} {'median s':>9} {'min s':>7}  heavy imports")
        for label, args in COMMANDS.items():
            times = [_time(args, env) for _ in range(rounds)]
            heavy = ", ".join(_imported(args, env)) or "none"
            print(f"{label:<24} {statistics.median(times):>9.2f} {min(times):>7.2f}  {heavy}")


if __name__ == "__main__":
    main()
