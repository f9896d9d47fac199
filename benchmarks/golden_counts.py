"""The golden counts: exact per-iteration counts of three NCNN reference models on every emulated device,
committed in tests/data/golden_counts.json and reproduced exactly by tests/test_golden_counts.py (the
cross-machine check: any machine with the same pinned runtime, emulator and board views must give these
integers, every field).

Each count is one timed iteration after one warm-up, one thread, as benchmarks/calibration.py counts, inside
the board's system view and under the pinned counting QEMU. The file also records every input the counts
depend on, so a difference names its cause.

    python benchmarks/golden_counts.py            # count and compare with the committed file
    python benchmarks/golden_counts.py --write    # count and (re)write it: after a deliberate runtime change
    python benchmarks/golden_counts.py --devices imx6 --models blazeface --json --without-view
                                                  # what the counts would be with this host's /sys and cpuinfo
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

from edgebench.boards.board import board_for
from edgebench.boards.devices import PACKAGED_DEVICES, Device, parse_devices_file
from edgebench.boards.launcher import Launcher
from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.reference import REFERENCE_DIR

HERE = Path(__file__).resolve().parent
GOLDEN_FILE = HERE.parent / "tests" / "data" / "golden_counts.json"
SCHEMA = "edgebench-golden-counts/1"
# Small, and three kernel families (fp32, shuffle, int8). Not squeezenet_int8: on the Cortex-A9 its count moves
# by 3 instructions from one run to the next (115,216,359 or 115,216,362, misses equal), a nondeterminism not
# yet explained; a golden count must be exact.
MODELS = ("blazeface", "shufflenet", "mobilenet_int8")
DEVICES = ("imx6", "rpi3", "rpi4")


def calibration_script():
    """benchmarks/calibration.py, whose counting these counts share."""
    spec = importlib.util.spec_from_file_location("edgebench_calibration", HERE / "calibration.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_for(device: Device) -> dict[str, str]:
    """Everything the counts of `device` depend on, as comparable strings."""
    from edgebench.ncnn_tools.build import build_runtime
    from edgebench.ncnn_tools.plugin import build_plugin
    from edgebench.ncnn_tools.qemu_build import counting_qemu

    runtime = build_runtime(device.arch, progress=False)
    qemu = counting_qemu(device.emulator.argv[0])
    launcher = board_for(device).launcher
    return {"runtime_key": runtime.key, "runner_sha256": _sha256(runtime.runner), "ncnn_version": runtime.ncnn_version,
            "plugin": build_plugin(device.emulator.argv[0]).name, "emulator": f"{device.emulator} ({qemu.version})",
            "system_view": launcher.view.digest, "cache": repr(device.cache)}


def count_device(device: Device, models: tuple[str, ...] = MODELS, view: bool = True) -> dict[str, dict[str, int]]:
    """model -> every counted field of its timed iteration; view=False counts with the host's /sys and cpuinfo."""
    from edgebench.ncnn_tools.build import build_runtime

    calibration = calibration_script()
    runtime = build_runtime(device.arch, progress=False)
    launcher = board_for(device).launcher
    if not view:
        launcher = Launcher(emulator=launcher.emulator)
    target = next(t for t in calibration.TARGETS.values() if t.device == device.name)
    out = {}
    for model in models:
        job = calibration.CountJob(model, REFERENCE_DIR / f"{model}.param", target, device, "golden")
        entry = calibration._count_one(job, runtime.runner, launcher, device.cache, {})
        if "error" in entry:
            raise EdgebenchError(f"{device.name} {model}: {entry['error']}")
        out[model] = entry["counts"]
    return out


def differences(golden: dict, device: str, inputs: dict[str, str], counts: dict[str, dict[str, int]]) -> list[str]:
    """Each way today's inputs and counts differ from the golden ones, inputs first (they explain counts)."""
    want = golden["devices"][device]
    out = [f"{name}: golden {want['inputs'].get(name)!r}, now {value!r}"
           for name, value in inputs.items() if want["inputs"].get(name) != value]
    for model, fields in counts.items():
        for name, value in fields.items():
            expected = want["counts"].get(model, {}).get(name)
            if expected != value:
                out.append(f"{model} {name}: golden {expected}, now {value}")
    return out


def load_golden() -> dict:
    doc = json.loads(GOLDEN_FILE.read_text())
    if doc.get("schema") != SCHEMA:
        raise EdgebenchError(f"{GOLDEN_FILE}: schema {doc.get('schema')!r}, expected {SCHEMA!r}")
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the file instead of comparing with it")
    parser.add_argument("--devices", default=",".join(DEVICES))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON object, compare nothing")
    parser.add_argument("--without-view", action="store_true",
                        help="count with this host's /sys and /proc/cpuinfo (implies --json): what the view prevents")
    args = parser.parse_args()
    models = tuple(args.models.split(","))
    if args.json or args.without_view:
        devices = parse_devices_file(PACKAGED_DEVICES)
        print(json.dumps({name: count_device(devices[name], models, view=not args.without_view)
                          for name in args.devices.split(",")}))
        return 0
    devices = parse_devices_file(PACKAGED_DEVICES)
    doc = {"schema": SCHEMA, "models": list(MODELS), "devices": {}}
    failed = False
    for name in args.devices.split(","):
        device = devices[name]
        inputs, counts = inputs_for(device), count_device(device, models)
        doc["devices"][name] = {"inputs": inputs, "counts": counts}
        for model, fields in counts.items():
            print(f"{name:5s} {model:16s} " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)
        if not args.write:
            diff = differences(load_golden(), name, inputs, counts)
            failed |= bool(diff)
            print(f"{name}: " + ("identical to the golden counts" if not diff else "DIFFERS: " + "; ".join(diff)))
    if args.write:
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        tmp = GOLDEN_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        tmp.replace(GOLDEN_FILE)
        print(f"wrote {GOLDEN_FILE}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
