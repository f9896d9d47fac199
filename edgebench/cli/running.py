"""What `edgebench run` and `edgebench reproduce` share: a request's timing settings from the device's runner
defaults, the request run on its device's board under a bar over the models, and the models that failed."""

from __future__ import annotations

import sys
from collections.abc import Callable

from edgebench.bench.session import RunRequest, Session
from edgebench.boards.devices import RunnerDefaults
from edgebench.console import err, model_progress
from edgebench.errors import EdgebenchError
from edgebench.results.result import RunResult, RunSettings, Status
from edgebench.results.store import Store


def timed_settings(defaults: RunnerDefaults, *, loops: int | None, warmup: int | None, threads: int | None,
                   **more) -> RunSettings:
    """Settings with the device's runner defaults wherever the command line says nothing (None)."""
    return RunSettings(threads=threads or defaults.threads, warmup=defaults.warmup if warmup is None else warmup,
                       loops=loops or defaults.loops, **more)


def run_with_progress(request: RunRequest, store: Store, show: Callable[[RunResult], None],
                      ended_early: Callable[[EdgebenchError, str | None], EdgebenchError] | None = None, *,
                      parallel: bool = False) -> str:
    """Execute `request` on its device's board (`parallel`: spread over every labgrid place its entry's tags
    match, edgebench.bench.spread), each result shown as it is stored, the bar's text the current stage;
    returns the run id. `ended_early(error, run id or None)` rewords a failure part-way."""
    from edgebench.bench.runtimes import BuiltRuntimes
    from edgebench.bench.spread import spread_board, spread_run
    from edgebench.boards.board import board_for
    from edgebench.modeling.latency_model import unmodeled_reason

    board = (spread_board if parallel else board_for)(request.device, wait=request.wait_for_lock)
    if request.count and board.counts and (unmodeled := unmodeled_reason(request.device)):
        err.print(f"{request.device.name}: {unmodeled}")  # said once, before anything is built or sent
    with model_progress(len(request.models)) as (stage, model_done):
        session = Session(board, BuiltRuntimes(), store, argv=sys.argv[:], on_stage=stage)
        counted: set[str] = set()

        def on_result(result: RunResult) -> None:
            show(result)
            if result.model not in counted:  # a spread run's anchor is stored once per board: one model
                counted.add(result.model)
                model_done()

        try:
            if parallel:
                run_id = spread_run(session, request, on_result, say=lambda line: err.print(line, markup=False))
            else:
                run_id, _ = session.execute(request, on_result)
        except EdgebenchError as exc:
            if ended_early is None:
                raise
            raise ended_early(exc, session.run_id) from None
    return run_id


def failed_models(results: list[RunResult]) -> list[str]:
    return [r.model for r in results if r.status != Status.OK]
