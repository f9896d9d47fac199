"""The whole orchestration of `edgebench run` (prepare -> deploy -> run -> parse -> validate -> store) against a
board that is this machine (tests/fake_board.py): fast, so it is not marked slow. tests/test_run.py runs the
same path against the emulated i.MX6 behind a real sshd."""

from __future__ import annotations

import functools

import pytest

from edgebench.bench.session import RunRequest, Session
from edgebench.results.result import RunSettings
from edgebench.results.store import Store
from fake_board import GOOD, LOAD_ERROR, WRONG_OUTPUT, FakeRuntimes, LocalBoard, local_device, tiny_artifact


@pytest.fixture
def parts(tmp_path):
    artifacts = tmp_path / "artifacts"
    models = tuple(str(tiny_artifact(artifacts, name, seed)) for seed, name in enumerate(("tiny_a", "tiny_b")))
    workdir = tmp_path / "board"
    workdir.mkdir()
    return tmp_path, models, LocalBoard(local_device(), workdir)


def _execute(board, tmp_path, store, models, mode=GOOD, stages=None, resume=None):
    request = RunRequest(device=board.device, models=models, settings=RunSettings(loops=3, warmup=1),
                         artifacts_root=tmp_path / "artifacts", resume_run=resume)
    session = Session(board, FakeRuntimes(tmp_path / "runtime", mode), store, argv=["test"],
                      on_stage=stages.append if stages is not None else lambda s: None)
    return functools.partial(session.execute, request)


def test_two_models_prepare_deploy_run_parse_and_store(parts):
    tmp_path, models, board = parts
    seen = []
    with Store(tmp_path / "store.sqlite3") as store:
        run_id, results = _execute(board, tmp_path, store, models)(seen.append)
        assert [r.model for r in results] == ["tiny_a", "tiny_b"] and seen == results
        for r in results:
            assert r.status == "ok", r.error
            assert len(r.samples_ms) == 3 and r.output_cosine_vs_host >= 0.9999
            assert not r.board.emulated and r.board.uname and r.board.cpus_used == [0, 1]
            assert r.board.ncnn_cpu.count == 2 and r.counters is None and r.modeled is None
        assert store.results(run_id) == results
        assert (board.workdir / ".edgebench.lock").exists() is False  # released

        stages: list[str] = []
        _, again = _execute(board, tmp_path, store, models, stages=stages)(lambda r: None)
        assert "deployed: 0 file(s), 0 bytes sent" in stages  # nothing changed, nothing sent
        assert "tiny_b: running on local: timed 3/3" in stages  # the runner's loop progress, relayed
        assert [r.status for r in again] == ["ok", "ok"]


def test_output_unlike_host_ncnn_and_a_runner_error_fail_their_model_alone(parts):
    tmp_path, models, board = parts
    with Store(tmp_path / "store.sqlite3") as store:
        _, wrong = _execute(board, tmp_path, store, models, WRONG_OUTPUT)(lambda r: None)
        assert [r.status for r in wrong] == ["failed", "failed"]
        assert "output differs from host NCNN on the same input: cosine" in wrong[0].error
        run_id, broken = _execute(board, tmp_path, store, models, LOAD_ERROR)(lambda r: None)
        assert all(r.status == "failed" and "failed (load): cannot load" in r.error for r in broken)
        assert [r.model for r in store.results(run_id)] == ["tiny_a", "tiny_b"]


def test_resume_runs_only_what_the_run_did_not_finish(parts):
    tmp_path, models, board = parts
    with Store(tmp_path / "store.sqlite3") as store:
        run_id, first = _execute(board, tmp_path, store, models[:1])(lambda r: None)
        stages: list[str] = []
        _, rest = _execute(board, tmp_path, store, models, stages=stages, resume=run_id)(lambda r: None)
        assert f"resuming {run_id}: 1 done, 1 to run" in stages
        assert [r.model for r in rest] == ["tiny_b"]
        assert [r.model for r in store.results(run_id)] == ["tiny_a", "tiny_b"] and store.results(run_id)[0] == first[0]
