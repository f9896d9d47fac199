"""Proof that the CI gate works, on the emulated i.MX6 end to end: `edgebench run` (export, cross-built runtime,
a real sshd, qemu-arm -cpu cortex-a9 with the counting plugin, the store), `edgebench baseline save`, then
`edgebench check`. No part is stood in for.

An unchanged model passes 20 runs out of 20, every count exactly equal; the same model made >= 5 % heavier
(FD-MobileNet 0.25x with its 512-channel stage widened to 560, exported under the old name, as a careless
change would be) fails.

Slow: the runtime build is shared through EDGEBENCH_TEST_CACHE (as in test_run.py). A warm run takes a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.boards.devices import get_device
from edgebench.boards.targets import target_down
from edgebench.cli import main
from edgebench.export.manifest import load_manifest
from edgebench.export.pipeline import export_artifact
from edgebench.export.source import ExportSource

pytestmark = pytest.mark.slow

MODEL = "fd_mobilenet_0.25x"  # the smallest paper model
QUICK = ("--loops", "3", "--warmup", "1")  # counts are exact per iteration: a few suffice
UNCHANGED_RUNS = 20


def heavier_fd_mobilenet():
    """FD-MobileNet 0.25x with its five 512-channel blocks widened to 560 (140 channels at 0.25x, still a
    multiple of NCNN's pack of 4): about 7 % more multiply-adds."""
    from edgebench.models.fd_mobilenet import CHANNELS, STRIDES
    from edgebench.models.init import init_seeded
    from edgebench.models.mobilenet_v1 import MobileNetV1

    channels = tuple(560 if c == 512 else c for c in CHANNELS)
    return init_seeded(MobileNetV1(0.25, channels, STRIDES), 0, (1, 3, 224, 224))


@pytest.fixture
def env(tmp_path, monkeypatch, shared_cache):
    """Own data dir (store, target keys, sshd); the shared runtime cache."""
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    device = get_device("imx6")
    yield tmp_path
    target_down(device)


def invoke(*args: str, expect: int = 0):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == expect, (res.exit_code, res.output)
    return res


def run(model: str, artifacts: Path) -> None:
    invoke("run", "--device", "imx6", "--model", model, *QUICK, "--artifacts", str(artifacts))


def check(baseline: Path, expect: int) -> dict:
    return json.loads(invoke("check", "--baseline", str(baseline), "--device", "imx6", "--json", expect=expect).stdout)


def test_unchanged_passes_20_of_20_and_five_percent_heavier_fails(env):
    artifacts, baseline = env / "artifacts", env / "baseline.json"
    run(MODEL, artifacts)
    invoke("baseline", "save", str(baseline), "--device", "imx6")
    saved = json.loads(baseline.read_text())["models"][0]
    assert saved["model"] == MODEL and saved["counter_iterations"] == 3 and saved["counters"]["instructions"] > 10**6

    checked_runs = set()
    for _ in range(UNCHANGED_RUNS):
        run(MODEL, artifacts)  # the same artifact, a new run, the same counts
        report = check(baseline, expect=0)
        assert [c["outcome"] for c in report["checks"]] == ["ok"]
        changes = {ch["metric"]: ch["change_pct"] for ch in report["checks"][0]["changes"]}
        assert set(changes) >= {"instructions", "memory bytes", "L1 misses", "L2 misses"}
        assert set(changes.values()) == {0.0}, changes  # exact, not merely within the tolerance
        checked_runs.add(report["run_id"])
    assert len(checked_runs) == UNCHANGED_RUNS  # every check looked at a run of its own

    old = load_manifest(artifacts / MODEL)
    heavier, folder = export_artifact(
        ExportSource(MODEL, "factory:test_check_emulated:heavier_fd_mobilenet", (1, 3, 224, 224),
                     build=heavier_fd_mobilenet),
        env / "heavier",
    )
    assert heavier.name == MODEL and heavier.macs >= 1.05 * old.macs
    run(str(folder), artifacts)
    report = check(baseline, expect=1)
    (result,) = report["checks"]
    assert result["outcome"] == "regression" and result["model"] == MODEL
    instructions = next(ch for ch in result["changes"] if ch["metric"] == "instructions")
    assert instructions["change_pct"] > instructions["limit_pct"] == 1.0
    assert any(n.startswith("artifact changed") for n in result["notes"])
    assert any(n.startswith("M MACs") for n in result["notes"])
