"""Fault injection into real `edgebench run` processes on emulated targets (benchmarks/fault_injection.py has
the faults and prints their tally): after each, one clear line, every finished model stored, no partial
artifact ever used (hashes), and a bare `--resume` completes the rest. Beside them, the two run-level faults
of issue 15 that need a board: a model that times out (row 12) and a busy board (row 13).

Slow: real sshd, qemu-arm and SQLite; the runtime comes from the shared build cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.boards import targets
from edgebench.boards.devices import get_device
from edgebench.boards.lock import board_lock
from edgebench.cli import main
from edgebench.results.store import Store

pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import fault_injection as fi  # noqa: E402  (the faults, and the checks after each, live with their tally)


@pytest.fixture(scope="module")
def models(tmp_path_factory, shared_cache) -> list[Path]:
    return fi.export_models(tmp_path_factory.mktemp("fault-artifacts"))


@pytest.fixture
def env(tmp_path, monkeypatch, shared_cache) -> Path:
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("fault", fi.FAULTS, ids=[f.kind + (f"-{f.model}" if f.model is not None else "")
                                                   for f in fi.FAULTS])
def test_fault(fault, models, env):
    import os

    if fault.kind == "after-result-fill" and os.geteuid() != 0:
        pytest.skip("the disk-full fault mounts a tmpfs (root only)")
    o = fi.run_fault(fault, models, env)
    assert o.fired, "the fault was never injected"
    assert o.one_clear_line, o.error_line
    assert o.names_resume, o.error_line  # row 5: the run id and --resume, when it kept anything
    assert len(o.stored_at_fault) >= fault.finished  # every model finished before the fault is stored
    assert o.partial_used == 0  # nothing half-sent ever sits at a name the runner reads
    assert o.resumed and o.rewritten == 0 and o.results_lost == 0, o
    assert o.temporaries_after_resume == 0  # the resume's deploy removed what the fault left


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_a_model_that_times_out_is_stored_as_failed_and_the_suite_goes_on(models, env):
    """Row 12: `--timeout 1` with two models aborted the whole run and stored nothing."""
    store = env / "store.sqlite3"
    try:
        r = _run("run", "--device", "imx6", "--timeout", "1", "--min-time-ms", "5000", "--no-counters",
                 "--loops", "1", "--warmup", "0", "--model", models[0], "--model", models[1], "--store", store)
    finally:
        targets.target_down(get_device("imx6"))
    assert r.exit_code == 2 and "2 model(s) failed" in r.stderr and "Traceback" not in r.output, r.output
    with Store(store) as s:
        results = s.results(s.latest_run("imx6").id)
    assert [x.model for x in results] == ["fault_net_32", "fault_net_40"]  # model 2 ran after model 1 timed out
    assert all(x.status == "failed" and "timed out: still running after 1 s" in x.error for x in results)


def test_a_busy_board_refused_with_no_wait_leaves_no_run(models, env):
    """Row 13: a refused (busy) run used to leave an empty run that `--resume` and `report` then picked."""
    store = env / "store.sqlite3"
    device = get_device("imx6")
    try:
        transport, endpoint = targets.connect(device)
        with transport, board_lock(transport, endpoint.workdir, purpose="another run"):
            r = _run("run", "--device", "imx6", "--no-wait", "--no-counters", "--model", models[0], "--store", store)
    finally:
        targets.target_down(device)
    assert r.exit_code == 2 and "is busy" in r.stderr and "another run" in r.stderr, r.output
    assert "nothing was stored" in r.stderr and Store(store).runs() == []
    assert "has no results" not in _run("report", "--store", store).stderr
