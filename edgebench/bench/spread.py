"""A run spread over a labgrid farm (`edgebench run --parallel`): every place a device's tags match runs the
request's models at once, one queue between them, into one run.

The models are exported and the runtime built once, before any place is held. Then every matching place
that is free is acquired, from the main thread (where Ctrl-C and SIGTERM raise, so every place held is given
back on the way out), and each gets a worker thread with a Session and a store connection of its own that
takes the next model off the queue. The anchor (the smallest model) runs first on every board: its figures
per board are what the spread between the boards is measured on. A board lost mid-suite (its connection
dropped, or any other error its Session raises rather than stores) stops its worker and puts the model it
had taken back on the queue for the others; a model that fails on its own is a result like any other.
Models that no board is left to run are stored as failed, with why. Places are released as the run ends (a
lost board's too), in the main thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from edgebench.bench.artifacts import Prepared
from edgebench.bench.session import Plan, RunRequest, Session
from edgebench.boards.board import BoardLink, board_for
from edgebench.boards.devices import Device
from edgebench.boards.farm import LabgridBoard
from edgebench.errors import EdgebenchError
from edgebench.results.result import RunResult
from edgebench.results.store import Store


class ModelQueue:
    """The models waiting for a board and the one each live board has taken (thread-safe). A board asking
    for its next model has finished the one before; a board that leaves puts back the one it had taken."""

    def __init__(self, models: Sequence[Prepared], boards: Sequence[str]):
        self._waiting = deque(models)
        self._taken: dict[str, Prepared | None] = dict.fromkeys(boards)
        self._changed = threading.Condition()

    def take(self, board: str) -> Prepared | None:
        """The next model for `board`; None once none is waiting and none could come back (every model taken
        is with a board that finishes it or puts it back)."""
        with self._changed:
            self._taken[board] = None
            self._changed.notify_all()
            while not self._waiting:
                if not any(self._taken.values()):
                    return None
                self._changed.wait()
            self._taken[board] = self._waiting.popleft()
            return self._taken[board]

    def leave(self, board: str) -> Prepared | None:
        """`board` runs nothing more: the model it had taken (returned) goes back first in line."""
        with self._changed:
            back = self._taken.pop(board, None)
            if back is not None:
                self._waiting.appendleft(back)
            self._changed.notify_all()
            return back


@dataclass
class Worker:
    """One board of the run: its open place and what became of it."""

    name: str
    link: BoardLink
    lost: str | None = None  # why it stopped before the queue was empty
    ran: int = 0  # results it stored


def anchor_of(models: Sequence[Prepared]) -> Prepared:
    """The model every board runs: the smallest (the cheapest to repeat), the first of equals."""
    return min(models, key=lambda p: p.manifest.macs)


def spread_board(device: Device, wait: bool) -> LabgridBoard:
    """The board a spread run over `device`'s places starts from, or why `device` has none to spread over."""
    if device.labgrid is None:
        raise EdgebenchError(f"--parallel spreads a run over labgrid places; {device.name} is not on one",
                             hint="name a devices.yaml entry with labgrid: {tags: {...}}")
    if device.labgrid.place is not None:
        raise EdgebenchError(f"--parallel spreads a run over the places an entry's tags match; {device.name} is "
                             f"the one place {device.labgrid.place}",
                             hint="name a devices.yaml entry with labgrid: {tags: {...}}")
    return board_for(device, wait=wait)


def spread_run(lead: Session, request: RunRequest, on_result: Callable[[RunResult], None],
               say: Callable[[str], None]) -> str:
    """Run `request` over every place the lead session's board (spread_board) matches; returns the run id.
    `say` gets one line per event worth keeping (a place used or not, which board runs which model, one lost)."""
    board, runtimes, store = lead.board, lead.runtimes, lead.store
    plan = lead.plan(request, board.workdir, on_result)
    if not plan.todo:
        return plan.run_id
    board.launcher  # noqa: B018 -- an emulated board's view, written here once before the workers share it

    def session(w: Worker, own: Store) -> Session:
        return Session(board.on_place(w.name), runtimes, own, argv=lead.argv, on_stage=lead.on_stage)

    workers: list[Worker] = []
    try:
        for name, link in _acquire(board, say):
            workers.append(Worker(name, link))  # at once: an interrupt while the next is acquired closes it
        ran = _run_workers(plan, workers, session, store, on_result, say)
    finally:
        for w in reversed(workers):  # the first place holds SIGTERM's handler: it is given back last
            w.link.close()
    unrun = [p for p in plan.todo if p.manifest.name not in ran]
    if unrun:
        why = "; ".join(f"{w.name}: {w.lost}" for w in workers if w.lost)
        for p in unrun:
            lead.store_unrun(plan, p, f"not run: every board was lost ({why})", on_result)
    return plan.run_id


def _acquire(board: LabgridBoard, say: Callable[[str], None]) -> Iterator[tuple[str, BoardLink]]:
    """Every matching place that can be had now, opened; when none is free, the first to free up (waiting in
    labgrid's queue unless --no-wait). A place that is in use or does not answer is named and left out."""
    got = 0
    for name in board.places():
        try:
            link = board.on_place(name).open()
        except EdgebenchError as exc:
            say(f"{name}: not used ({exc.message})")
            continue
        got += 1
        say(f"{name}: acquired")
        yield name, link
    if got == 0:
        link = board.open()  # the entry's own reservation: waits for any place, or refuses (--no-wait)
        say(f"{link.board_name}: acquired")
        yield link.board_name, link


def _run_workers(plan: Plan, workers: list[Worker], session: Callable[[Worker, Store], Session], store: Store,
                 on_result: Callable[[RunResult], None], say: Callable[[str], None]) -> set[str]:
    """One thread per board, each with its own store connection (SQLite's are per thread), until the queue
    is empty or every board is lost; returns the models stored."""
    anchor = anchor_of(plan.todo) if len(workers) > 1 else None
    queue = ModelQueue([p for p in plan.todo if p is not anchor], [w.name for w in workers])
    if anchor is not None:
        say(f"anchor {anchor.manifest.name}: runs on every board, for the spread between them")

    def models(w: Worker) -> Iterator[Prepared]:
        first = [anchor] if anchor is not None else []
        while (p := first.pop() if first else queue.take(w.name)) is not None:
            say(f"{w.name} runs {p.manifest.name}")
            yield p

    ran: set[str] = set()

    def stored(w: Worker, result: RunResult) -> None:
        w.ran += 1
        ran.add(result.model)
        on_result(result)

    def work(w: Worker) -> None:
        try:
            with Store(store.path) as own:
                session(w, own).run_models(w.link, plan, models(w), lambda r: stored(w, r))
        except Exception as exc:  # the board, not a model (a model's own failure is a result)
            w.lost = exc.message if isinstance(exc, EdgebenchError) else f"{type(exc).__name__}: {exc}"
            back = queue.leave(w.name)
            again = f"; {back.manifest.name} back in the queue" if back is not None else ""
            say(f"{w.name} lost after {w.ran} result(s) ({w.lost}){again}")
        finally:
            queue.leave(w.name)

    threads = [threading.Thread(target=work, args=(w,), name=f"board {w.name}", daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:  # Ctrl-C and SIGTERM interrupt this wait; the caller then closes every place
        t.join()
    return ran

