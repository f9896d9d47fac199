"""What the commands that read the results store share: the --store option and finding a stored run."""

from __future__ import annotations

from pathlib import Path

import click

from edgebench.errors import EdgebenchError
from edgebench.results.result import RunResult
from edgebench.results.store import RunInfo, Store, default_store_path, writable

STORE_OPTION = click.option(
    "--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Results store file (default: results.sqlite3 in the data dir; EDGEBENCH_DATA moves it).",
)  # fmt: skip
FIRST_RUN_HINT = "run a model first, e.g. `edgebench run --device imx6`"


def existing_store(path: Path | None) -> Store | None:
    """The store, or None when there is no file yet (reading never creates one). A store that cannot be
    written is read without writing; a writable one is upgraded to this edgebench's schema as any open does."""
    path = path or default_store_path()
    return Store(path, read_only=not writable(path)) if path.exists() else None


def load_run(store_path: Path | None, device: str | None, run_id: str | None) -> tuple[RunInfo, list[RunResult]]:
    """Run `run_id` (any unique prefix), else the latest run (on `device` when given), with its results."""
    store = existing_store(store_path)
    if store is None:
        raise EdgebenchError(f"no results store at {store_path or default_store_path()} yet", FIRST_RUN_HINT)
    with store:
        if run_id:
            run = store.run(run_id)
            if device and run.device != device:
                raise EdgebenchError(f"run {run.id} was on {run.device}, not {device}")
        else:
            run = store.latest_run(device)
            if run is None:
                raise EdgebenchError(f"no runs stored{f' for device {device}' if device else ''} in {store.path}",
                                     FIRST_RUN_HINT)
        results = store.results(run.id)
    if not results:
        raise EdgebenchError(f"run {run.id} has no results stored", "it may have been interrupted before its "
                             "first model finished; `edgebench results` lists the others")
    return run, results
