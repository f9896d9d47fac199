"""The results store: every run, every model's RunResult, its raw samples and counters, in one SQLite file.

WAL mode with a busy timeout lets two runs (two boards) write at once; every result is committed the moment
it is added, so a crash loses nothing already added. An existing file is first inspected over a read-only
connection (header, tables, schema version, quick_check): one that is not a healthy edgebench store is
refused with a clear error before anything, not even the switch to WAL, writes to it. A run's row is written
with its first result, so a run that stored nothing leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgebench import __version__
from edgebench.errors import EdgebenchError
from edgebench.paths import data_dir
from edgebench.results.result import (Basis, BoardState, IterationCounts, LayerCost, LayerProfile, ModeledLatency,
                                      RunResult, RunSettings, Status)
from edgebench.serde import from_dict, to_dict

STORE_NAME = "results.sqlite3"
BUSY_TIMEOUT_S = 30.0
_SQLITE_HEADER = b"SQLite format 3\x00"

# IterationCounts fields as stored, one column each (schema v1). Written out, not taken from the dataclass
# (results.result.COUNT_FIELDS): a stored schema changes only by a migration.
COUNTER_COLUMNS = (
    "instructions", "simd_fp", "integer", "loads", "stores", "branches",
    "bytes_loaded", "bytes_stored", "l1d_misses", "l1i_misses", "l2_misses",
)  # fmt: skip

# RunResult fields stored as plain columns of `results`; settings, board and output_checksum are JSON
# (typed again through serde on the way out); samples_ms and counters have their own tables.
RESULT_COLUMNS = (
    "run_id", "model", "artifact_sha256", "device", "arch", "ncnn_version", "runtime_key", "load_ms",
    "first_inference_ms", "peak_rss_kb", "output_cosine_vs_host", "started_utc", "finished_utc", "status",
    "error", "modeled_ms", "mflops", "board_name",
)  # fmt: skip
RESULT_JSON_COLUMNS = ("settings", "board", "output_checksum", "layer_breakdown", "modeled", "layer_profile")
RESULT_REAL_COLUMNS = ("load_ms", "first_inference_ms", "output_cosine_vs_host", "modeled_ms", "mflops")

# Every column of `results` at schema v4, as v5 copies them.
_V4_RESULT_COLUMNS = (
    "id, run_id, model, artifact_sha256, device, arch, settings, ncnn_version, runtime_key, load_ms, "
    "first_inference_ms, peak_rss_kb, output_checksum, output_cosine_vs_host, board, started_utc, finished_utc, "
    "status, error, has_counters, modeled_ms, mflops, layer_breakdown, modeled, layer_profile"
)

# Migrations, applied in order; schema_version holds how many have run. Append, never edit a shipped one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (0)",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started TEXT NOT NULL,
            device TEXT NOT NULL,
            argv TEXT NOT NULL,
            edgebench_version TEXT NOT NULL,
            notes TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            model TEXT NOT NULL,
            artifact_sha256 TEXT NOT NULL,
            device TEXT NOT NULL,
            arch TEXT NOT NULL,
            settings TEXT NOT NULL,
            ncnn_version TEXT NOT NULL,
            runtime_key TEXT NOT NULL,
            load_ms REAL NOT NULL,
            first_inference_ms REAL NOT NULL,
            peak_rss_kb INTEGER NOT NULL,
            output_checksum TEXT NOT NULL,
            output_cosine_vs_host REAL,
            board TEXT NOT NULL,
            started_utc TEXT NOT NULL,
            finished_utc TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            has_counters INTEGER NOT NULL,
            modeled_ms REAL,
            mflops REAL,
            UNIQUE (run_id, model)
        )""",
        """CREATE TABLE samples (
            result_id INTEGER NOT NULL REFERENCES results(id),
            idx INTEGER NOT NULL,
            ms REAL NOT NULL,
            PRIMARY KEY (result_id, idx)
        ) WITHOUT ROWID""",
        f"""CREATE TABLE counters (
            result_id INTEGER NOT NULL REFERENCES results(id),
            iteration INTEGER NOT NULL,
            {", ".join(f"{c} INTEGER NOT NULL" for c in COUNTER_COLUMNS)},
            PRIMARY KEY (result_id, iteration)
        ) WITHOUT ROWID""",
        "CREATE INDEX runs_by_device ON runs (device, started)",
    ),
    # v2: RunResult.layer_breakdown (list[LayerCost] as JSON; NULL in rows stored before it existed).
    ("ALTER TABLE results ADD COLUMN layer_breakdown TEXT",),
    # v3: RunResult.modeled (ModeledLatency as JSON: interval, constants identity; NULL in older rows, whose
    # modeled_ms reports show without an interval).
    ("ALTER TABLE results ADD COLUMN modeled TEXT",),
    # v4: RunResult.layer_profile (LayerProfile as JSON: per-layer times from the profiling runtime; NULL
    # unless the run was asked for --per-layer on a board that times it).
    ("ALTER TABLE results ADD COLUMN layer_profile TEXT",),
    # v5: RunResult.board_name (the labgrid place a run spread over a farm ran the model on; NULL otherwise and
    # in older rows), and a model stored once per board of a run (a spread run's anchor runs on every board):
    # the table rebuilt as SQLite changes a constraint, its ids kept (samples and counters point at them).
    (
        """CREATE TABLE results_v5 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            model TEXT NOT NULL,
            artifact_sha256 TEXT NOT NULL,
            device TEXT NOT NULL,
            arch TEXT NOT NULL,
            settings TEXT NOT NULL,
            ncnn_version TEXT NOT NULL,
            runtime_key TEXT NOT NULL,
            load_ms REAL NOT NULL,
            first_inference_ms REAL NOT NULL,
            peak_rss_kb INTEGER NOT NULL,
            output_checksum TEXT NOT NULL,
            output_cosine_vs_host REAL,
            board TEXT NOT NULL,
            started_utc TEXT NOT NULL,
            finished_utc TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            has_counters INTEGER NOT NULL,
            modeled_ms REAL,
            mflops REAL,
            layer_breakdown TEXT,
            modeled TEXT,
            layer_profile TEXT,
            board_name TEXT
        )""",
        f"INSERT INTO results_v5 ({_V4_RESULT_COLUMNS}) SELECT {_V4_RESULT_COLUMNS} FROM results",
        "DROP TABLE results",
        "ALTER TABLE results_v5 RENAME TO results",
        "CREATE UNIQUE INDEX results_per_board ON results (run_id, model, COALESCE(board_name, ''))",
    ),
]

_RUN_COLUMNS = "id, started, device, argv, edgebench_version, notes"


@dataclass(frozen=True)
class NewRun:
    """A run not in the store yet: `Store.add_result(result, new_run)` writes its row in the transaction of
    its first result, so a run that ends before any result (refused, busy, aborted) is never left behind."""

    id: str
    started: str  # UTC, ISO 8601
    device: str
    argv: list[str]
    notes: str = ""


def new_run(device: str, argv: list[str], *, notes: str = "", started: str | None = None) -> NewRun:
    """A fresh run id (UTC time plus a random suffix: unique across processes); nothing is written."""
    now = time.gmtime()
    run_id = time.strftime("%Y%m%d-%H%M%S", now) + "-" + secrets.token_hex(3)
    return NewRun(id=run_id, started=started or time.strftime("%Y-%m-%dT%H:%M:%SZ", now), device=device,
                  argv=list(argv), notes=notes)


@dataclass(frozen=True)
class RunInfo:
    """One stored run and what it holds."""

    id: str
    started: str  # UTC, ISO 8601
    device: str
    argv: list[str]
    edgebench_version: str
    notes: str
    models: int  # results stored, ok or failed
    ok: int
    failed: int
    measured: int  # ok results timed on a real board
    emulated: int  # ok results timed under an emulator (wall time, not board latency)
    modeled: int  # results with a modeled latency


def default_store_path() -> Path:
    return data_dir(create=False) / STORE_NAME


def writable(path: Path) -> bool:
    """Whether a store at `path` could be written: the file (when it exists) and its folder, which must take
    SQLite's -wal and -shm files."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


class Store:
    """Open (creating if absent) the store at `path` (default: the data dir's results.sqlite3).

    read_only=True never writes (no WAL switch, no migration, no -wal file) and works on a read-only folder
    or file; a writer refuses such a store at once, before the caller does any work it could not store.
    """

    def __init__(self, path: Path | str | None = None, *, busy_timeout_s: float = BUSY_TIMEOUT_S,
                 read_only: bool = False):
        self.path = Path(path) if path is not None else data_dir() / STORE_NAME
        self.read_only = read_only
        self._busy_timeout_s = busy_timeout_s
        self._refuse_foreign_file()
        if not self.path.parent.is_dir():
            raise EdgebenchError(f"cannot create the results store {self.path}: its folder does not exist")
        if not read_only and not writable(self.path):
            raise EdgebenchError(f"the results store {self.path} is read-only (it or its folder cannot be "
                                 "written); it was left untouched",
                                 hint="point --store or EDGEBENCH_DATA at a writable place; `edgebench results` "
                                      "and `edgebench report` can still read it")
        if read_only:
            self._db = self._open_read_only()
            try:
                self._inspect(self._db, require_current=True)
            except BaseException:
                self._db.close()
                raise
            return
        if self.path.exists() and self.path.stat().st_size > 0:
            probe = self._open_read_only()
            try:
                self._inspect(probe, require_current=False)
            finally:
                probe.close()
        with self._guard():
            # isolation_level=None: we open every write transaction ourselves (BEGIN IMMEDIATE, see _write).
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        try:
            with self._guard():
                self._enter_wal()
                self._db.execute("PRAGMA synchronous=FULL")
                self._migrate()
                self._db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------------------------

    def begin_run(self, device: str, argv: list[str], *, notes: str = "", started: str | None = None) -> str:
        """Record a new run now and return its id (a run that may store nothing: see NewRun)."""
        run = new_run(device, argv, notes=notes, started=started)
        with self._write() as db:
            _insert_run(db, run)
        return run.id

    def add_result(self, result: RunResult, new_run: NewRun | None = None) -> None:
        """Store one model's result and commit at once. A failed result may be replaced (resume); an ok one not.
        With `new_run`, that run's row is written in the same transaction unless it is stored already."""
        if result.status not in tuple(Status):
            raise EdgebenchError(f"result status {result.status!r} is not one of {', '.join(tuple(Status))}")
        if new_run is not None and new_run.id != result.run_id:
            raise EdgebenchError(f"result for run {result.run_id} added with run {new_run.id}")
        row = _result_row(result)
        with self._write() as db:
            _check_run(db, result, new_run)
            _drop_failed(db, result)
            result_id = db.execute(f"INSERT INTO results ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                   tuple(row.values())).lastrowid
            db.executemany("INSERT INTO samples (result_id, idx, ms) VALUES (?, ?, ?)",
                           ((result_id, i, _encode_real(ms)) for i, ms in enumerate(result.samples_ms)))
            db.executemany(f"INSERT INTO counters (result_id, iteration, {', '.join(COUNTER_COLUMNS)}) "
                           f"VALUES ({', '.join('?' * (len(COUNTER_COLUMNS) + 2))})",
                           ((result_id, i, *(getattr(c, name) for name in COUNTER_COLUMNS))
                            for i, c in enumerate(result.counters or ())))

    # --- reading -----------------------------------------------------------------------------------------

    def runs(self, limit: int | None = None, *, device: str | None = None, with_results: bool = False) -> list[RunInfo]:
        """Stored runs, newest first; with_results=True leaves out runs that hold no result."""
        conditions, params = (["device = ?"], [device]) if device else ([], [])
        if with_results:
            conditions.append("EXISTS (SELECT 1 FROM results r WHERE r.run_id = runs.id)")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._guard():
            rows = self._db.execute(sql, params).fetchall()
            return [self._run_info(row) for row in rows]

    def latest_run(self, device: str | None = None) -> RunInfo | None:
        """The newest run that holds a result (older stores may hold runs that ended before their first)."""
        runs = self.runs(1, device=device, with_results=True)
        return runs[0] if runs else None

    def run(self, run_id: str) -> RunInfo:
        """The run with this id, or the only one whose id starts with it."""
        with self._guard():
            rows = self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ? OR substr(id, 1, ?) = ? ORDER BY id = ? DESC",
                (run_id, len(run_id), run_id, run_id),
            ).fetchall()
            if not rows:
                raise EdgebenchError(f"no run {run_id!r} in {self.path}", "list the stored runs: edgebench results")
            if len(rows) > 1 and rows[0][0] != run_id:
                raise EdgebenchError(f"{run_id!r} matches {len(rows)} runs; give more of the id")
            return self._run_info(rows[0])

    def results(self, run_id: str) -> list[RunResult]:
        """Every result of a run, in the order added, rebuilt exactly as it was added."""
        names = ["id", *RESULT_COLUMNS, *RESULT_JSON_COLUMNS, "has_counters"]
        with self._guard():
            rows = self._db.execute(
                f"SELECT {', '.join(names)} FROM results WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
            samples, counters = self._samples(run_id), self._counters(run_id)
        out = []
        for row in rows:
            fields = dict(zip(names, row))
            result_id = fields.pop("id")
            has_counters = fields.pop("has_counters")
            out.append(_result_of(fields, samples.get(result_id, []),
                                  counters.get(result_id, []) if has_counters else None))
        return out

    def _samples(self, run_id: str) -> dict[int, list[float]]:
        """result id -> its timed samples, in order."""
        samples: dict[int, list[float]] = {}
        for result_id, ms in self._db.execute(
            "SELECT s.result_id, s.ms FROM samples s JOIN results r ON r.id = s.result_id "
            "WHERE r.run_id = ? ORDER BY s.result_id, s.idx",
            (run_id,),
        ):
            samples.setdefault(result_id, []).append(_decode_real(ms))
        return samples

    def _counters(self, run_id: str) -> dict[int, list[IterationCounts]]:
        """result id -> its per-iteration counts, in order."""
        counters: dict[int, list[IterationCounts]] = {}
        for result_id, *values in self._db.execute(
            f"SELECT c.result_id, {', '.join('c.' + c for c in COUNTER_COLUMNS)} FROM counters c "
            "JOIN results r ON r.id = c.result_id WHERE r.run_id = ? ORDER BY c.result_id, c.iteration",
            (run_id,),
        ):
            counters.setdefault(result_id, []).append(IterationCounts(*values))
        return counters

    def schema_version(self) -> int:
        with self._guard():
            return self._db.execute("SELECT version FROM schema_version").fetchone()[0]

    # --- internals ---------------------------------------------------------------------------------------

    def _run_info(self, row: tuple) -> RunInfo:
        run_id, started, device, argv, version, notes = row
        kinds = self._db.execute(
            "SELECT r.status, json_extract(r.board, '$.emulated'), r.modeled_ms IS NOT NULL, "
            "EXISTS (SELECT 1 FROM samples s WHERE s.result_id = r.id) FROM results r WHERE r.run_id = ?",
            (run_id,),
        ).fetchall()
        ok = [k for k in kinds if k[0] == Status.OK]
        timed = [Basis.of_wall_time(bool(k[1])) for k in ok if k[3]]  # ok results with timed samples
        return RunInfo(
            id=run_id,
            started=started,
            device=device,
            argv=json.loads(argv),
            edgebench_version=version,
            notes=notes,
            models=len(kinds),
            ok=len(ok),
            failed=len(kinds) - len(ok),
            measured=timed.count(Basis.MEASURED),
            emulated=timed.count(Basis.EMULATED),
            modeled=sum(1 for k in kinds if k[2]),
        )

    def _refuse_foreign_file(self) -> None:
        """Check the header ourselves so SQLite never gets the chance to touch a file that is not a database."""
        if not self.path.exists():
            return
        if self.path.is_dir():
            raise EdgebenchError(f"the results store {self.path} is a folder, not a file")
        with open(self.path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
        if head and head != _SQLITE_HEADER:
            raise self._corrupt("not an SQLite database")

    def _retry_locked(self, step):
        """While another process is creating the store, SQLite can answer "locked" at once instead of through
        the busy handler, so retry until the timeout."""
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _enter_wal(self) -> None:
        """Switch to WAL (persistent once any process has)."""
        self._retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))

    def _open_read_only(self) -> sqlite3.Connection:
        """A connection that cannot write the file. In a folder that cannot take SQLite's -shm file, a store
        without a -wal file is read as immutable (nothing is pending that -shm would index)."""
        uri = f"file:{urllib.parse.quote(str(self.path.absolute()))}?mode=ro"
        if not os.access(self.path.parent, os.W_OK) and not Path(f"{self.path}-wal").exists():
            uri += "&immutable=1"
        with self._guard():
            return sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_s, isolation_level=None)

    def _inspect(self, db: sqlite3.Connection, require_current: bool) -> None:
        """Refuse, reading only, a file that is not a healthy edgebench store of a schema this one knows."""

        def check() -> int:
            version = self._schema(db)
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise self._corrupt(problems[0])
            return version

        with self._guard():
            version = self._retry_locked(check)
        if require_current and version < len(MIGRATIONS):
            raise EdgebenchError(
                f"the results store {self.path} has schema version {version}, older than this edgebench reads "
                f"({len(MIGRATIONS)}), and it is read-only here, so it cannot be upgraded; it was left untouched",
                "open it once where it is writable (any edgebench command upgrades it)")

    def _schema(self, db: sqlite3.Connection) -> int:
        """The store's schema version (0: an empty database); a foreign or newer one is refused."""
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" in tables:
            version = db.execute("SELECT version FROM schema_version").fetchone()[0]
        elif tables - {"sqlite_sequence"}:
            raise EdgebenchError(
                f"{self.path} is an SQLite database but not an edgebench results store (tables: "
                f"{', '.join(sorted(tables))}); it was left untouched",
                "point --store at another file",
            )
        else:
            version = 0
        if version > len(MIGRATIONS):
            raise EdgebenchError(
                f"the results store {self.path} has schema version {version}, newer than this edgebench "
                f"({__version__}) knows ({len(MIGRATIONS)}); it was left untouched",
                "upgrade edgebench",
            )
        return version

    def _migrate(self) -> None:
        """Apply the pending migrations, foreign keys off as SQLite's table rebuild asks (a dropped table's
        implicit delete would trip them) and checked before the commit."""
        with self._write() as db:
            version = self._schema(db)
            for step in MIGRATIONS[version:]:
                for statement in step:
                    db.execute(statement)
            if version < len(MIGRATIONS):
                if db.execute("PRAGMA foreign_key_check").fetchall():
                    raise self._corrupt(f"rows point at missing ones after migrating to schema {len(MIGRATIONS)}")
                db.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on success. BEGIN IMMEDIATE takes the write lock up front, so a
        second writer waits (busy timeout) instead of failing when it upgrades a read lock."""
        if self.read_only:
            raise EdgebenchError(f"the results store {self.path} was opened read-only; nothing was written")
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite errors as one clear EdgebenchError; an IntegrityError is our bug and keeps its traceback."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise EdgebenchError(
                    f"the results store {self.path} stayed locked for {self._busy_timeout_s:.0f} s",
                    "another edgebench is writing to it; try again when it is done",
                ) from exc
            if "unable to open" in text or "readonly" in text:
                raise EdgebenchError(f"cannot open the results store {self.path}: {text}") from exc
            if "malformed" in text or "not a database" in text:
                raise self._corrupt(text) from exc
            raise
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(str(exc)) from exc

    def _corrupt(self, why: str) -> EdgebenchError:
        return EdgebenchError(
            f"the results store {self.path} is damaged ({why}); it was left untouched",
            f"move it aside to start a new store; `sqlite3 {self.path} .recover` may rescue its rows",
        )


def _result_row(result: RunResult) -> dict:
    """The `results` row of a result: plain columns, JSON ones, whether it has counters; NaN kept as text."""
    row = {c: getattr(result, c) for c in RESULT_COLUMNS}
    row.update({c: json.dumps(to_dict(getattr(result, c))) for c in RESULT_JSON_COLUMNS})
    row["has_counters"] = int(result.counters is not None)
    return {k: _encode_real(v) for k, v in row.items()}


def _result_of(fields: dict, samples: list[float], counters: list[IterationCounts] | None) -> RunResult:
    """A result rebuilt from its `results` row (as _result_row wrote it), samples and counters."""
    fields = {**fields, **{k: _decode_real(fields[k]) for k in RESULT_REAL_COLUMNS}}
    return RunResult(
        **{k: fields[k] for k in RESULT_COLUMNS if k != "status"},
        status=Status(fields["status"]),
        settings=from_dict(RunSettings, json.loads(fields["settings"])),
        board=from_dict(BoardState, json.loads(fields["board"])),
        output_checksum=json.loads(fields["output_checksum"]),
        samples_ms=samples,
        counters=counters,
        layer_breakdown=_layer_breakdown(fields["layer_breakdown"]),
        modeled=_modeled(fields["modeled"]),
        layer_profile=_layer_profile(fields["layer_profile"]),
    )


def _check_run(db: sqlite3.Connection, result: RunResult, new_run: NewRun | None) -> None:
    """The result's run is stored (written now when it is `new_run`) and on the result's device."""
    run = db.execute("SELECT device FROM runs WHERE id = ?", (result.run_id,)).fetchone()
    if run is None and new_run is not None:
        _insert_run(db, new_run)
        run = (new_run.device,)
    if run is None:
        raise EdgebenchError(f"run {result.run_id!r} is not in the store", "start it with Store.begin_run")
    if run[0] != result.device:
        raise EdgebenchError(f"result for device {result.device!r} added to run {result.run_id} on {run[0]!r}")


def _drop_failed(db: sqlite3.Connection, result: RunResult) -> None:
    """Remove the run's failed results this one replaces (a resume redoes them): of its model on its board or
    on none (export failed, never run), and an ok result those on every board too (a resumed model may land on
    another board of a farm). An ok result is never replaced: one per model and board."""
    board = result.board_name or ""
    old = db.execute("SELECT id, status, COALESCE(board_name, '') FROM results WHERE run_id = ? AND model = ?",
                     (result.run_id, result.model)).fetchall()
    if any(status == Status.OK and on == board for _, status, on in old):
        on = f" on {board}" if board else ""
        raise EdgebenchError(f"run {result.run_id} already has a result for {result.model}{on}")
    for result_id, status, on in old:
        if status != Status.OK and (result.status == Status.OK or on in ("", board)):
            for table in ("samples", "counters", "results"):
                db.execute(f"DELETE FROM {table} WHERE {'id' if table == 'results' else 'result_id'} = ?",
                           (result_id,))


def _insert_run(db: sqlite3.Connection, run: NewRun) -> None:
    db.execute(
        "INSERT INTO runs (id, started, device, argv, edgebench_version, notes) VALUES (?, ?, ?, ?, ?, ?)",
        (run.id, run.started, run.device, json.dumps(run.argv), __version__, run.notes),
    )


def _layer_breakdown(raw: str | None) -> list[LayerCost] | None:
    value = None if raw is None else json.loads(raw)
    return None if value is None else [from_dict(LayerCost, item) for item in value]


def _modeled(raw: str | None) -> ModeledLatency | None:
    value = None if raw is None else json.loads(raw)
    return None if value is None else from_dict(ModeledLatency, value)


def _layer_profile(raw: str | None) -> LayerProfile | None:
    value = None if raw is None else json.loads(raw)
    return None if value is None else from_dict(LayerProfile, value)


def _encode_real(value):
    """SQLite stores NaN as NULL; keep it as the text 'NaN' so it reads back as a float, not as None."""
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def _decode_real(value):
    return float("nan") if value == "NaN" else value

