"""A run spread over several boards (edgebench.bench.spread), fast: the queue between the boards, and the whole
spread run over places that are folders of this machine (tests/fake_board.py), one of them lost mid-run.
tests/test_labgrid.py runs the same over a real labgrid farm of emulated boards."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from edgebench.bench.session import RunRequest, Session
from edgebench.bench.spread import ModelQueue, spread_run
from edgebench.boards.board import BoardLink
from edgebench.boards.transport import ConnectionLost
from edgebench.errors import EdgebenchError
from edgebench.report.boards import compare_boards
from edgebench.report.markdown import to_markdown
from edgebench.report.model import build_report
from edgebench.report.table import render_table
from edgebench.results.baseline import baseline_from_results
from edgebench.results.result import RunResult, RunSettings
from edgebench.results.store import Store
from fake_board import FakeRuntimes, LocalBoard, LocalTransport, local_device, tiny_artifact
from result_factory import make_result


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

    def run(lost: tuple[str, ...] = (), resume: str | None = None) -> tuple[str, list[str], Store]:
        board = LocalFarm(request.device, tmp_path, ("place-a", "place-b"), lost)
        store = Store(tmp_path / "store.sqlite3")
        lines: list[str] = []
        lead = Session(board, FakeRuntimes(tmp_path / "runtime"), store, argv=["test"], on_stage=lambda s: None)
        asked = dataclasses.replace(request, resume_run=resume)
        return spread_run(lead, asked, lambda r: None, lines.append), lines, store

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
    store.close()
    again, lines, store = farm(resume=run_id)  # the farm back: the rest done, in the same run
    with store:
        results = store.results(run_id)
    assert again == run_id and all(r.status == "ok" for r in results), [r.error for r in results]
    # tiny_1, the smallest still to run, is this session's anchor; the failures it replaced are gone
    assert sorted(r.model for r in results if r.model != "tiny_0") == ["tiny_1", "tiny_1", "tiny_2", "tiny_3"]
    assert "anchor tiny_1: runs on every board, for the spread between them" in lines


# -- the boards compared ------------------------------------------------------------------------------------------
def _on(board: str, model: str, median_ms: float, governor: str = "performance", **board_state) -> RunResult:
    r = make_result("run", model, median_ms=median_ms, noise=0.0, n=5)
    return dataclasses.replace(r, board_name=board, board=dataclasses.replace(r.board, governor=governor,
                                                                                 **board_state))


def test_boards_that_disagree_on_their_state_are_named_and_the_anchor_gives_the_spread():
    results = [_on("pi-b", "anchor", 110.0, governor="ondemand"), _on("pi-a", "anchor", 100.0),
               _on("pi-a", "big", 300.0), _on("pi-b", "other", 200.0, governor="ondemand")]
    comparison = compare_boards(results)
    assert [(b.name, b.results, b.governor) for b in comparison.boards] == [("pi-a", 2, ("performance",)),
                                                                           ("pi-b", 2, ("ondemand",))]
    assert comparison.disagreements == ("the boards' governor differ: pi-a performance; pi-b ondemand: their "
                                        "figures do not compare",)
    [spread] = comparison.spreads
    assert spread.model == "anchor" and str(spread.basis) == "measured"
    assert spread.median_ms == (("pi-a", 100.0), ("pi-b", 110.0)) and spread.spread == pytest.approx(0.10)
    assert compare_boards([dataclasses.replace(r, board_name=None) for r in results]) is None  # one board: no table


def test_a_report_of_a_spread_run_shows_each_models_board_and_the_spread(tmp_path):
    results = [_on("pi-a", "anchor", 100.0), _on("pi-b", "anchor", 103.0), _on("pi-b", "big", 300.0)]
    with Store(tmp_path / "s.sqlite3") as store:
        run_id = store.begin_run("imx6", [])
        for r in results:
            store.add_result(dataclasses.replace(r, run_id=run_id))
        run, stored = store.run(run_id), store.results(run_id)
    console = Console(width=200, record=True)
    report = build_report(run, stored)
    render_table(report, console)
    assert "| anchor | measured | pi-a 100.0 ms, pi-b 103.0 ms | 3.0% |" in to_markdown(report)
    text = console.export_text()
    assert "imx6 on pi-b" in text and "Boards of this run" in text
    assert "The boards' state agrees (kernel, governor, clock, system view)." in text
    [line] = [line for line in text.splitlines() if "pi-a 100.0 ms, pi-b 103.0 ms" in line]
    assert line.split()[:2] == ["anchor", "measured"] and line.endswith("3.0%")


def test_a_model_run_on_several_boards_is_no_baseline():
    with pytest.raises(EdgebenchError, match="ran anchor on several boards") as caught:
        baseline_from_results("run", [_on("pi-a", "anchor", 100.0), _on("pi-b", "anchor", 103.0)])
    assert caught.value.hint == "name the other models with --model"
    assert [m.model for m in baseline_from_results("run", [_on("pi-a", "anchor", 100.0)]).models] == ["anchor"]


def test_the_spread_of_modeled_boards_is_of_the_figures_the_report_shows(tmp_path):
    """Stored with other constants, the anchor's figures are re-modeled with the installed ones, in its row
    and in the spread alike."""
    from edgebench.modeling.latency_model import load_constants, model_latency
    from edgebench.results.result import IterationCounts

    a9 = load_constants()["cortex-a9"]
    other = dataclasses.replace(a9, cycles_per={k: v * 1.3 for k, v in a9.cycles_per.items()})
    counts = IterationCounts(instructions=5440483, simd_fp=3216556, integer=1063586, loads=628164, stores=196053,
                             branches=336124, bytes_loaded=23895264, bytes_stored=6863454, l1d_misses=498045,
                             l1i_misses=3276, l2_misses=196800)
    stored = model_latency(other, [counts], clock_mhz=800, cache=a9.cache, macs=None)
    results = [dataclasses.replace(make_result("run", "anchor", emulated=True, counters=1), counters=[counts],
                                   modeled_ms=stored.ms, modeled=stored, board_name=board) for board in ("a", "b")]
    report = build_report(_run_info(tmp_path), results)
    [spread] = report.boards.spreads
    shown = {row.modeled_ms for row in report.rows}
    assert len(shown) == 1 and shown != {stored.ms}  # re-modeled
    assert [ms for _, ms in spread.median_ms] == [shown.pop()] * 2 and spread.spread == 0.0


def _run_info(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        run_id = store.begin_run("imx6", [])
        return store.run(run_id)
