"""`edgebench run` end to end on the emulated i.MX6: export, cross-built runtime, a real sshd, qemu-arm
-cpu cortex-a9 with the counting plugin, the store. No part is stood in for.

Slow: the runtime build is shared through EDGEBENCH_TEST_CACHE (as in test_runtime_emulated.py).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.bench.runtimes import BuiltRuntimes
from edgebench.bench.session import RunRequest, Session
from edgebench.boards.board import board_for
from edgebench.boards.devices import get_device
from edgebench.boards.targets import target_down, target_status
from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.results.result import RunSettings
from edgebench.results.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import fault_injection as fi  # noqa: E402  (its kill_tree is how a board "goes away")

pytestmark = pytest.mark.slow

MODELS = ("fd_mobilenet_0.25x", "shufflenet_v1_g3_0.25x")  # the two smallest paper models
QUICK = RunSettings(loops=2, warmup=0)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture
def env(tmp_path, monkeypatch, shared_cache):
    """Own data dir (store, target keys, sshd); the shared runtime cache."""
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    device = get_device("imx6")
    yield device
    target_down(device)


def _run(device, artifacts, store, models=MODELS, resume=None, stages=None):
    """The session's execute for this request on the device's own board: call it with on_result."""
    request = RunRequest(device=device, models=models, settings=QUICK, artifacts_root=artifacts, resume_run=resume)
    session = Session(board_for(device), BuiltRuntimes(), store, argv=["test"],
                      on_stage=(stages.append if stages is not None else lambda s: None))
    return functools.partial(session.execute, request)


def test_two_models_whole_path_and_an_unchanged_rerun(env, artifacts, tmp_path):
    device = env
    with Store(tmp_path / "store.sqlite3") as store:
        run_id, results = _run(device, artifacts, store)(lambda r: None)
        assert [r.model for r in results] == list(MODELS)
        for r in results:
            assert r.status == "ok", r.error
            assert len(r.samples_ms) == 2 and all(s > 0 for s in r.samples_ms)
            assert r.output_cosine_vs_host >= 0.9999
            assert r.board.emulated and r.board.emulator == "qemu-arm -cpu cortex-a9"
            assert "vfpv3" in r.board.hwcaps and "vfpv4" not in r.board.hwcaps
            assert r.counters is not None and len(r.counters) == 2
            assert r.counters[0].instructions > 1_000_000 and r.counters[0].l1d_misses > 0
        assert store.results(run_id) == results

        stages: list[str] = []
        _, again = _run(device, artifacts, store, stages=stages)(lambda r: None)
        assert "deployed: 0 file(s), 0 bytes sent" in stages  # nothing changed, nothing sent
        assert f"{MODELS[0]}: counting on imx6: timed 2/2" in stages  # the runner's progress came over SSH
        # Exact counts: the same binary, model and input give the same numbers, run after run.
        assert [r.counters for r in again] == [r.counters for r in results]


def test_board_lost_mid_suite_keeps_finished_results_and_resume_completes(env, artifacts, tmp_path):
    device = env

    def pull_the_plug(result):
        fi.kill_tree(target_status(device).pid)

    def lost_run() -> None:  # in a child process that then ends, as an edgebench run does
        with Store(tmp_path / "store.sqlite3") as store:
            try:
                _run(device, artifacts, store)(pull_the_plug)
            except EdgebenchError:
                os._exit(0)
        os._exit(1)  # a board lost mid-suite must fail the run

    child = multiprocessing.get_context("fork").Process(target=lost_run)
    child.start()
    child.join(900)
    assert child.exitcode == 0
    with Store(tmp_path / "store.sqlite3") as store:
        run_id = store.latest_run(device.name).id
        kept = store.results(run_id)
        assert [r.model for r in kept] == [MODELS[0]] and kept[0].status == "ok"

    # The next run is a new process, as after a real outage: the dead run's board lock is recognised as
    # stale (its owner process is gone) and the finished model is not run again.
    proc = subprocess.run([shutil.which("edgebench"), "run", "--device", "imx6", "--loops", "2", "--warmup", "0",
                           "--model", MODELS[0], "--model", MODELS[1], "--artifacts", str(artifacts),
                           "--store", str(tmp_path / "store.sqlite3"), "--resume"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 done, 1 to run" in proc.stderr or run_id in proc.stderr
    with Store(tmp_path / "store.sqlite3") as store:
        final = store.results(run_id)
    assert [r.model for r in final] == list(MODELS) and all(r.status == "ok" for r in final)
    assert final[0] == kept[0]  # nothing already stored is rewritten


def test_cli_run_prints_the_table_and_json(env, artifacts, tmp_path):
    store = tmp_path / "cli.sqlite3"
    args = ["run", "--device", "imx6", "--model", MODELS[0], "--loops", "1", "--warmup", "0",
            "--artifacts", str(artifacts), "--store", str(store)]
    r = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert '"model": "fd_mobilenet_0.25x"' in r.stdout and '"emulated": true' in r.stdout
    bad = CliRunner().invoke(main, ["run", "--device", "no-such-board", "--store", str(store)])
    assert bad.exit_code == 2 and "no-such-board" in bad.stderr and "Traceback" not in bad.output


def test_hostile_model_name_reaches_the_board_as_data_only(env, tmp_path, monkeypatch):
    """A model named like a shell injection is exported, deployed and run; nothing it names is executed
    (remote paths are content digests, every argument is quoted)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "data"))
    evil = "x'; touch PWNED; $(touch PWNED2) `touch PWNED3` \"q\""
    art = tmp_path / "art"
    r = CliRunner().invoke(main, ["export", "tiny_factories:small_cnn", "--input-shape", "1,3,32,32", "--name", evil,
                                  "--out", str(art)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    with Store(tmp_path / "store.sqlite3") as store:
        _, [result] = _run(env, art, store, models=(str(art / evil),))(lambda r: None)
    assert result.status == "ok" and result.model == evil
    workdir_root = Path(os.environ["EDGEBENCH_DATA"])
    assert not [p for p in workdir_root.rglob("PWNED*")] and not list(Path.home().glob("PWNED*"))
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


def test_a_model_that_cannot_be_exported_fails_alone(env, artifacts, tmp_path):
    with Store(tmp_path / "store.sqlite3") as store:
        run_id, results = _run(env, artifacts, store, models=(MODELS[0], "no_such_model"))(lambda r: None)
        stored = {r.model: r for r in store.results(run_id)}
    assert stored[MODELS[0]].status == "ok"
    assert stored["no_such_model"].status == "failed" and "export failed" in stored["no_such_model"].error
