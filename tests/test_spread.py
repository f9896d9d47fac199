"""A run spread over several boards (edgebench.bench.spread), fast: the queue between the boards, and the whole
spread run over places that are folders of this machine (tests/fake_board.py), one of them lost mid-run.
tests/test_labgrid.py runs the same over a real labgrid farm of emulated boards."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgebench.bench.session import RunRequest, Session
from edgebench.bench.spread import ModelQueue, spread_run
from edgebench.boards.board import BoardLink
from edgebench.boards.transport import ConnectionLost
from edgebench.report.boards import compare_boards
from edgebench.results.result import RunSettings
from edgebench.results.store import Store
from fake_board import FakeRuntimes, LocalBoard, LocalTransport, local_device, tiny_artifact


# -- the queue -------------------------------------------------------------------------------------------------
def test_a_board_that_leaves_puts_back_only_the_model_it_had_taken():
    queue = ModelQueue(["m1", "m2", "m3"], ["a", "b"])
    assert queue.take("a") == "m1" and queue.take("b") == "m2"
    assert queue.take("a") == "m3"  # m1 finished
    assert queue.leave("b") == "m2"  # b lost while on m2: back first in line
    assert queue.take("a") == "m2" and queue.take("a") is None


def test_a_board_with_nothing_left_waits_while_another_could_still_put_one_back():
    queue = ModelQueue(["m1", "m2"], ["a", "b"])
    assert queue.take("a") == "m1" and queue.take("b") == "m2"
    got = []
    waiting = threading.Thread(target=lambda: got.append(queue.take("a")))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # b may still lose m2
    queue.leave("b")
    waiting.join(5)
    assert got == ["m2"] and queue.take("a") is None


def test_every_board_gone_leaves_the_rest_waiting():
    queue = ModelQueue(["m1", "m2"], ["a"])
    assert queue.take("a") == "m1"
    assert queue.leave("a") == "m1"
    assert queue.take("nobody") == "m1"  # what a caller would find left: nothing was dropped


# -- a spread run over places that are folders here --------------------------------------------------------------
@dataclass
class LocalPlaceLink(BoardLink):
    place: str = ""

    @property
    def board_name(self) -> str:
        return self.place


class DroppingTransport(LocalTransport):
    """This machine for the place's first model; its connection drops as the second starts to run."""

    runners = 0

    def run(self, argv, timeout=None, on_stderr_line=None):
        if any(str(a).startswith("./runtime/") for a in argv):  # the runner started, not its upload
            self.runners += 1
            if self.runners > 1:
                raise ConnectionLost(f"{self.name}: connection lost")
        return super().run(argv, timeout, on_stderr_line)


class LocalFarm(LocalBoard):
    """A tags entry whose places are folders under `root`; the places named in `lost` drop after one model."""

    def __init__(self, device, root: Path, places: tuple[str, ...], lost: tuple[str, ...] = (), place: str = "lead"):
        super().__init__(device, root / place)
        self.root, self.names, self.lost, self.place = root, places, lost, place

    def places(self) -> list[str]:
        return list(self.names)

    def on_place(self, place: str) -> LocalFarm:
        return LocalFarm(self.device, self.root, self.names, self.lost, place)

    def open(self) -> BoardLink:
        self.workdir.mkdir(exist_ok=True)
        transport = (DroppingTransport if self.place in self.lost else LocalTransport)(self.place)
        return LocalPlaceLink(transport, str(self.workdir), place=self.place)


@pytest.fixture
def farm(tmp_path):
    models = tuple(str(tiny_artifact(tmp_path / "artifacts", f"tiny_{i}", i)) for i in range(4))
    request = RunRequest(device=local_device(), models=models, settings=RunSettings(loops=2, warmup=0),
                         artifacts_root=tmp_path / "artifacts")

    def run(lost: tuple[str, ...] = ()) -> tuple[str, list[str], Store]:
        board = LocalFarm(request.device, tmp_path, ("place-a", "place-b"), lost)
        store = Store(tmp_path / "store.sqlite3")
        lines: list[str] = []
        lead = Session(board, FakeRuntimes(tmp_path / "runtime"), store, argv=["test"], on_stage=lambda s: None)
        return spread_run(lead, request, lambda r: None, lines.append), lines, store

    return run


def test_every_model_runs_once_on_one_of_the_boards_and_the_anchor_on_each(farm):
    run_id, lines, store = farm()
    with store:
        results = store.results(run_id)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    on = [(r.model, r.board_name) for r in results]
    assert sorted(m for m, _ in on) == ["tiny_0", "tiny_0", "tiny_1", "tiny_2", "tiny_3"]
    assert {b for m, b in on if m == "tiny_0"} == {"place-a", "place-b"}  # the anchor, on both
    assert "anchor tiny_0: runs on every board, for the spread between them" in lines
    assert "place-a: acquired" in lines and "place-b: acquired" in lines
    comparison = compare_boards(results)
    [spread] = comparison.spreads
    assert spread.model == "tiny_0" and {b for b, _ in spread.median_ms} == {"place-a", "place-b"}
    assert spread.spread == pytest.approx(0.0) and comparison.disagreements == ()


def test_a_board_lost_mid_run_leaves_its_model_to_the_other(farm):
    run_id, lines, store = farm(lost=("place-b",))
    with store:
        results = store.results(run_id)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    assert [(r.model, r.board_name) for r in results if r.board_name == "place-b"] == [("tiny_0", "place-b")], lines
    assert sorted(r.model for r in results if r.board_name == "place-a") == ["tiny_0", "tiny_1", "tiny_2", "tiny_3"]
    [lost] = [line for line in lines if line.startswith("place-b lost")]
    assert lost.startswith("place-b lost after 1 result(s) (place-b: connection lost); tiny_")
    assert lost.endswith("back in the queue")


def test_every_board_lost_stores_the_rest_as_failed_with_why(farm):
    run_id, lines, store = farm(lost=("place-a", "place-b"))
    with store:
        results = store.results(run_id)
    ok = sorted((r.model, r.board_name) for r in results if r.status == "ok")
    assert ok == [("tiny_0", "place-a"), ("tiny_0", "place-b")]  # what they finished stays
    failed = [r for r in results if r.status == "failed"]
    assert sorted(r.model for r in failed) == ["tiny_1", "tiny_2", "tiny_3"]
    assert all(r.error == "not run: every board was lost (place-a: place-a: connection lost; place-b: place-b: "
                          "connection lost)" and r.board_name is None for r in failed)
