"""The SQLite results store: exact round trips, resume, migrations, damaged files, real concurrent writers."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from result_factory import make_result

from edgebench.errors import EdgebenchError
from edgebench.results import store as store_mod
from edgebench.results.result import IterationCounts, RunResult
from edgebench.results.store import Store, default_store_path

TESTS = Path(__file__).parent


@pytest.fixture
def db(tmp_path):
    with Store(tmp_path / "results.sqlite3") as s:
        yield s


def test_default_path_follows_edgebench_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    assert default_store_path() == tmp_path / "data" / "results.sqlite3"
    with Store() as s:
        assert s.path == tmp_path / "data" / "results.sqlite3"
    assert (tmp_path / "data" / "results.sqlite3").is_file()


def test_wal_mode_and_schema_version(db):
    assert sqlite3.connect(db.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.schema_version() == len(store_mod.MIGRATIONS)


def test_round_trip_is_exact(db):
    run_id = db.begin_run("imx6", ["edgebench", "run", "--device", "imx6"], notes="ü night run")
    added = [
        make_result(run_id, "fd_mobilenet_1.0x", seed=1, counters=4, modeled_ms=123.456789012345),
        make_result(run_id, "mobilenet_v1_0.5x", seed=2, counters=0),  # counters measured but empty
        make_result(run_id, "shufflenet_v1_g3_1.0x", seed=3, status="failed", mflops=None),
        make_result(run_id, "effnet_1.0x", seed=4, emulated=True, board_flags=("ran hot",), n=1000),
    ]
    for r in added:
        db.add_result(r)
    assert db.results(run_id) == added
    assert added[1].counters == [] and db.results(run_id)[1].counters == []
    assert db.results(run_id)[0].counters[0].instructions == 1_234_567_890_123  # > 32 bits survives


def test_every_runresult_field_has_a_home_in_the_schema():
    stored = set(store_mod.RESULT_COLUMNS) | set(store_mod.RESULT_JSON_COLUMNS) | {"samples_ms", "counters"}
    assert {f.name for f in dataclasses.fields(RunResult)} == stored
    assert tuple(f.name for f in dataclasses.fields(IterationCounts)) == store_mod.COUNTER_COLUMNS


def test_nan_survives_as_float(db):
    run_id = db.begin_run("imx6", [])
    r = dataclasses.replace(make_result(run_id, "m_1.0x"), output_cosine_vs_host=float("nan"))
    db.add_result(r)
    back = db.results(run_id)[0]
    assert isinstance(back.output_cosine_vs_host, float) and math.isnan(back.output_cosine_vs_host)


def test_runs_listing_and_counts(db):
    first = db.begin_run("imx6", ["edgebench", "run"], started="2026-11-20T08:00:00Z")
    second = db.begin_run("qemu-a53", ["edgebench", "run", "--device", "qemu-a53"], started="2026-11-21T08:00:00Z")
    db.add_result(make_result(first, "a_1.0x"))
    db.add_result(make_result(first, "b_1.0x", status="failed"))
    db.add_result(make_result(second, "a_1.0x", device="qemu-a53", emulated=True, modeled_ms=50.0, counters=3))
    db.add_result(make_result(second, "b_1.0x", device="qemu-a53", emulated=True, modeled_ms=60.0, counters=3))
    runs = db.runs()
    assert [r.id for r in runs] == [second, first]
    assert (runs[0].device, runs[0].models, runs[0].emulated, runs[0].measured, runs[0].modeled) == (
        "qemu-a53", 2, 2, 0, 2)  # fmt: skip
    assert (runs[1].models, runs[1].ok, runs[1].failed, runs[1].measured, runs[1].modeled) == (2, 1, 1, 1, 0)
    assert runs[1].argv == ["edgebench", "run"] and runs[1].edgebench_version
    assert [r.id for r in db.runs(limit=1)] == [second]
    assert db.latest_run().id == second
    assert db.latest_run(device="imx6").id == first
    assert db.latest_run(device="nope") is None


def test_run_lookup_by_unique_prefix(db):
    a = db.begin_run("imx6", [])
    assert db.run(a).id == a
    assert db.run(a[:-2]).id == a
    with pytest.raises(EdgebenchError, match="no run"):
        db.run("19990101")
    db.begin_run("imx6", [])
    with pytest.raises(EdgebenchError, match="matches 2 runs"):
        db.run(a[:4])  # both ids start with the year


def test_empty_store(db):
    assert db.runs() == []
    assert db.latest_run() is None
    assert db.results("nothing") == []


def _finished(store, run_id):
    """The models a resumed run would skip (bench.session reads them the same way)."""
    return {r.model for r in store.results(run_id) if r.status == "ok"}


def test_resume_retries_failed_and_refuses_duplicate_ok(db):
    run_id = db.begin_run("imx6", [])
    db.add_result(make_result(run_id, "a_1.0x"))
    db.add_result(make_result(run_id, "b_1.0x", status="failed", counters=2))
    assert _finished(db, run_id) == {"a_1.0x"}
    retried = make_result(run_id, "b_1.0x", seed=9, counters=3)
    db.add_result(retried)
    assert _finished(db, run_id) == {"a_1.0x", "b_1.0x"}
    assert db.results(run_id)[1] == retried  # old samples/counters gone, not merged
    with pytest.raises(EdgebenchError, match="already has a result"):
        db.add_result(make_result(run_id, "a_1.0x"))


def test_add_result_checks_run_and_device(db):
    with pytest.raises(EdgebenchError, match="not in the store"):
        db.add_result(make_result("missing", "a_1.0x"))
    run_id = db.begin_run("imx6", [])
    with pytest.raises(EdgebenchError, match="device"):
        db.add_result(make_result(run_id, "a_1.0x", device="rpi4"))
    with pytest.raises(EdgebenchError, match="status"):
        db.add_result(dataclasses.replace(make_result(run_id, "a_1.0x"), status="maybe"))
    assert db.results(run_id) == []  # nothing half-written


def test_migration_path_applies_new_steps_in_order(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite3"
    with Store(path) as s:
        run_id = s.begin_run("imx6", [])
        s.add_result(make_result(run_id, "a_1.0x"))
        assert s.schema_version() == len(store_mod.MIGRATIONS)
    monkeypatch.setattr(
        store_mod,
        "MIGRATIONS",
        [*store_mod.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT 'h'",)],
    )
    with Store(path) as s:
        assert s.schema_version() == len(store_mod.MIGRATIONS)
        assert s.results(run_id) == [make_result(run_id, "a_1.0x")]
    assert sqlite3.connect(path).execute("SELECT host FROM runs").fetchall() == [("h",)]


def test_a_v4_store_keeps_its_results_and_then_takes_one_per_board(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite3"
    old = make_result("", "a_1.0x", counters=2)
    with monkeypatch.context() as v4:  # a store as the edgebench before board_name wrote it
        v4.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:4])
        v4.setattr(store_mod, "RESULT_COLUMNS", tuple(c for c in store_mod.RESULT_COLUMNS if c != "board_name"))
        v4.setattr(store_mod, "_drop_failed", lambda db, result: None)  # its first result: nothing to replace
        with Store(path) as s:
            run_id = s.begin_run("imx6", [])
            old = dataclasses.replace(old, run_id=run_id)
            s.add_result(old)
    with Store(path) as s:
        assert s.schema_version() == len(store_mod.MIGRATIONS)
        assert s.results(run_id) == [old] and old.board_name is None  # samples and counters still its own
        on_a, on_b = (dataclasses.replace(make_result(run_id, "b_1.0x", seed=i), board_name=b)
                      for i, b in enumerate(("imx6-a", "imx6-b")))
        s.add_result(on_a)
        s.add_result(on_b)  # one model on two boards of a run: a spread run's anchor
        with pytest.raises(EdgebenchError, match="already has a result for b_1.0x on imx6-a"):
            s.add_result(on_a)
        with pytest.raises(EdgebenchError, match="already has a result for a_1.0x$"):
            s.add_result(old)
        assert s.results(run_id) == [old, on_a, on_b]
        failed_a, failed_b, ok_b = (dataclasses.replace(make_result(run_id, "c_1.0x", status=status), board_name=b)
                                    for status, b in (("failed", "imx6-a"), ("failed", "imx6-b"), ("ok", "imx6-b")))
        s.add_result(failed_a)
        s.add_result(failed_b)  # a failure on another board is that board's
        assert [r.board_name for r in s.results(run_id) if r.model == "c_1.0x"] == ["imx6-a", "imx6-b"]
        s.add_result(ok_b)  # the model done after all, wherever: its failures are gone
        assert [r for r in s.results(run_id) if r.model == "c_1.0x"] == [ok_b]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "r.sqlite3"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    before = _digest(path)
    with pytest.raises(EdgebenchError, match="newer"):
        Store(path)
    assert _digest(path) == before


def test_garbage_file_is_refused_untouched(tmp_path):
    path = tmp_path / "results.sqlite3"
    path.write_bytes(b"this is my thesis, not a database\n" * 100)
    before = _digest(path)
    with pytest.raises(EdgebenchError, match="damaged.*left untouched"):
        Store(path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite3"]


def test_damaged_pages_are_a_clear_error_and_file_kept(tmp_path):
    path = tmp_path / "results.sqlite3"
    with Store(path) as s:
        run_id = s.begin_run("imx6", [])
        for i in range(20):
            s.add_result(make_result(run_id, f"m{i}_1.0x", n=500, counters=50))
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[page:] = bytes((i * 7919) % 251 for i in range(len(data) - page))  # every page but the first
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(EdgebenchError, match="damaged"):
        with Store(path) as s:
            s.results(run_id)
    assert _digest(path) == before


def test_other_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(EdgebenchError, match="not an edgebench results store"):
        Store(path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EdgebenchError, match="folder does not exist"):
        Store(tmp_path / "nope" / "r.sqlite3")


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from edgebench.results.store import Store
    from result_factory import make_result
    path, device, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    while not go.exists():
        time.sleep(0.001)
    with Store(path) as s:
        run_id = s.begin_run(device, sys.argv)
        for i in range(count):
            s.add_result(make_result(run_id, f"m{i}_1.0x", device=device, seed=i, n=300, counters=40))
            if i == count // 2 and len(sys.argv) > 5:
                import os, signal
                os.kill(os.getpid(), signal.SIGKILL)  # a crash mid-run
    print(run_id)
    """
)


def _writer(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "r.sqlite3"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_write_at_once(tmp_path):
    """Two real processes race to create the store and then interleave 25 commits each."""
    go = tmp_path / "go"
    procs = [_writer(tmp_path, device, "25", str(go)) for device in ("imx6", "rpi4")]
    time.sleep(1.0)  # both interpreters up and polling for the start signal
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    with Store(tmp_path / "r.sqlite3") as s:
        for (out, _), device in zip(outs, ("imx6", "rpi4")):
            run_id = out.strip()
            expected = [
                make_result(run_id, f"m{i}_1.0x", device=device, seed=i, n=300, counters=40) for i in range(25)
            ]
            assert s.results(run_id) == expected
        assert len(s.runs()) == 2
    assert sqlite3.connect(tmp_path / "r.sqlite3").execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_crash_loses_nothing_already_added(tmp_path):
    go = tmp_path / "go"
    go.touch()
    proc = _writer(tmp_path, "imx6", "10", str(go), "crash")
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    with Store(tmp_path / "r.sqlite3") as s:
        run = s.latest_run()
        assert _finished(s, run.id) == {f"m{i}_1.0x" for i in range(6)}  # 0..5 were added before the kill
        assert s.results(run.id)[5] == make_result(run.id, "m5_1.0x", seed=5, n=300, counters=40)


# -- issue 15: read-only and foreign stores are never written, not even their header; empty runs ------------------

def _no_sidecars(path: Path) -> bool:
    return not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()


def test_foreign_sqlite_database_is_left_byte_for_byte(tmp_path):
    """Row 7: a foreign database used to be refused only after SQLite had switched it to WAL."""
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.execute("INSERT INTO contacts VALUES ('ada')")
    con.commit()
    con.close()
    before = _digest(path)
    with pytest.raises(EdgebenchError, match="not an edgebench results store.*left untouched"):
        Store(path)
    assert _digest(path) == before and _no_sidecars(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_damaged_non_wal_store_is_refused_untouched(tmp_path):
    """Row 7: a damaged store in rollback-journal mode (copied off another machine, say) keeps its header."""
    path = tmp_path / "results.sqlite3"
    with Store(path) as s:
        run_id = s.begin_run("imx6", [])
        for i in range(20):
            s.add_result(make_result(run_id, f"m{i}_1.0x", n=500, counters=50))
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    assert data[18:20] == b"\x01\x01"  # rollback journal, not WAL
    data[4 * page:] = bytes((i * 7919) % 251 for i in range(len(data) - 4 * page))
    path.write_bytes(bytes(data))
    before = _digest(path)
    for read_only in (False, True):
        with pytest.raises(EdgebenchError, match="damaged.*left untouched"):
            Store(path, read_only=read_only)
    assert _digest(path) == before and _no_sidecars(path)


def test_read_only_store_is_read_and_never_written(read_only_folder):
    """Row 10: a store in a read-only EDGEBENCH_DATA can be read; a writer is refused at once."""
    from click.testing import CliRunner

    from edgebench.cli import main

    path = read_only_folder.path / "results.sqlite3"
    with Store(path) as s:
        run_id = s.begin_run("imx6", ["edgebench", "run"])
        s.add_result(make_result(run_id, "fd_mobilenet_1.0x"))
    read_only_folder.seal()
    before = _digest(path)
    with Store(path, read_only=True) as s:
        assert [r.model for r in s.results(run_id)] == ["fd_mobilenet_1.0x"]
        with pytest.raises(EdgebenchError, match="opened read-only"):
            s.begin_run("imx6", [])
    with pytest.raises(EdgebenchError, match="is read-only.*left untouched"):
        Store(path)
    cli = CliRunner()
    listed = cli.invoke(main, ["results", "--store", str(path), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["id"] for r in __import__("json").loads(listed.stdout)] == [run_id]
    shown = cli.invoke(main, ["report", "--store", str(path)])
    assert shown.exit_code == 0 and run_id in shown.stdout, shown.output
    assert _digest(path) == before and _no_sidecars(path)


def test_a_run_is_stored_with_its_first_result_and_latest_skips_empty_runs(db):
    """Row 13: refused, busy or aborted runs used to leave empty runs that `--resume` and `report` then picked."""
    pending = store_mod.new_run("imx6", ["edgebench", "run"])
    assert db.runs() == []  # nothing written for a run that has stored nothing
    db.add_result(make_result(pending.id, "a_1.0x"), pending)
    db.add_result(make_result(pending.id, "b_1.0x"), pending)  # the row is written once
    assert [(r.id, r.models) for r in db.runs()] == [(pending.id, 2)]
    empty = db.begin_run("imx6", [])  # as older edgebench versions left them
    assert db.latest_run("imx6").id == pending.id and db.latest_run().id == pending.id
    assert {r.id for r in db.runs()} == {pending.id, empty}  # listed (with 0 models), never picked as latest
    with pytest.raises(EdgebenchError, match="added with run"):
        db.add_result(make_result(pending.id, "c_1.0x"), store_mod.new_run("imx6", []))
