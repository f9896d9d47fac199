"""Reports built from RunResult objects made in code (the real input), checked format by format, and the CLI."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import re

import pytest
from click.testing import CliRunner
from rich.console import Console
from result_factory import make_result

from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.modeling.latency_model import load_constants
from edgebench.report import cells
from edgebench.report.layout import ELLIPSIS, MIN_CUT_WIDTH
from edgebench.report.markdown import to_markdown
from edgebench.report.model import build_report
from edgebench.report.paper import Verdict, compare_with_paper, judge
from edgebench.report.plot import plot_latency
from edgebench.report.rows import build_row, family_of
from edgebench.results.result import Basis
from edgebench.studies import fd_mobilenet as paper_mod
from edgebench.studies.fd_mobilenet import TABLE4

EMULATED, MEASURED, MODELED = Basis.EMULATED, Basis.MEASURED, Basis.MODELED
from edgebench.report.table import render_table
from edgebench.report.tabular import paper_to_csv, to_csv, to_json
from edgebench.results.result import IterationCounts, ModeledLatency, NcnnCpuInfo
from edgebench.results.stats import summarize
from edgebench.results.store import RunInfo, Store

RUN = RunInfo("20261123-100000-abc123", "2026-11-23T10:00:00Z", "imx6", ["edgebench", "run"], "0.1.0", "", 0, 0, 0,
              0, 0, 0)  # fmt: skip
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def exact(model: str, ms: float, *, n: int = 20, **kw):
    """A result whose samples are all `ms`: median and CI are exactly `ms`, and nothing is flagged."""
    r = make_result(RUN.id, model, n=n, **kw)
    return dataclasses.replace(r, samples_ms=[ms] * n if r.status == "ok" else [])


def paper_results(**kw):
    """The nine paper models: FD 100/40/15 ms; MobileNet exactly 1.1× FD; ShuffleNet 2.5× FD (paper: 1.33-1.82)."""
    fd = {"1.0x": 100.0, "0.5x": 40.0, "0.25x": 15.0}
    results = [exact(f"fd_mobilenet_{w}", ms, mflops=m, **kw) for (w, ms), m in zip(fd.items(), (144.5, 40.0, 12.0))]
    for claim in TABLE4:
        base = next(r for r in results if r.model == claim.fd_model).samples_ms[0]
        factor = 1.1 if claim.other_family == "MobileNet" else 2.5
        results.append(exact(claim.other_model, base * factor, mflops=claim.budget_mflops * 1.01, **kw))
    return results


def test_family_of():
    assert family_of("fd_mobilenet_0.5x") == "fd_mobilenet"
    assert family_of("mobilenet_v1_0.125x") == "mobilenet_v1"
    assert family_of("shufflenet_v1_g3_1.0x") == "shufflenet_v1"
    assert family_of("effnet_cifar10") == "effnet"
    assert family_of("mynet") == "mynet"


def test_row_keeps_every_figure_apart():
    r = make_result(RUN.id, "fd_mobilenet_1.0x", counters=5, board_flags=("ran hot",), modeled_ms=88.0)
    row = build_row(r)
    assert row.summary == summarize(r.samples_ms)
    assert (row.first_inference_ms, row.load_ms, row.peak_rss_kb, row.warmup) == (170.0, 12.5, 20480, 5)
    assert row.instructions_per_iter == 1_234_567_890_125  # median of base + 0..4
    # stored without its constants' identity (before intervals existed): shown as stored, and it says so
    assert row.flags == ("ran hot", "modeled: made with unrecorded constants (stored before constants were "
                                    "identified); not re-modeled, no interval")
    assert row.latency(MEASURED) == row.summary.median
    assert row.latency(EMULATED) is None
    assert row.latency(MODELED) == 88.0
    assert row.ci(MODELED) is None


def test_emulated_row_is_never_measured():
    row = build_row(make_result(RUN.id, "m_1.0x", emulated=True))
    assert row.emulator == "qemu-arm -cpu cortex-a9"
    assert row.latency(MEASURED) is None
    assert row.latency(EMULATED) == row.summary.median


def test_failed_row():
    row = build_row(make_result(RUN.id, "m_1.0x", status="failed"))
    assert row.summary is None and row.load_ms is None and row.first_inference_ms is None
    assert row.flags[0] == "failed: runner died with SIGILL (Illegal instruction)"


def test_spread_flags_reach_the_row():
    row = build_row(make_result(RUN.id, "m_1.0x", noise=0.2, n=8))
    assert any(f.startswith("few samples") for f in row.flags)
    assert any(f.startswith("wide spread") for f in row.flags)


def test_paper_table_declares_the_nine_models():
    assert paper_mod.PAPER_MODELS == {
        "fd_mobilenet_1.0x", "fd_mobilenet_0.5x", "fd_mobilenet_0.25x",
        "mobilenet_v1_0.5x", "mobilenet_v1_0.25x", "mobilenet_v1_0.125x",
        "shufflenet_v1_g3_1.0x", "shufflenet_v1_g3_0.5x", "shufflenet_v1_g3_0.25x",
    }  # fmt: skip
    speedups = {(c.budget_mflops, c.other_family): c.speedup for c in TABLE4}
    assert speedups == {(140, "MobileNet"): 1.1, (40, "MobileNet"): 1.1, (12, "MobileNet"): 1.11,
                        (140, "ShuffleNet"): 1.33, (40, "ShuffleNet"): 1.47, (12, "ShuffleNet"): 1.82}  # fmt: skip
    assert "no absolute ms" in paper_mod.PAPER_NOTE


def test_speedups_and_verdicts_hand_computed():
    rows = [build_row(r) for r in paper_results()]
    by_pair = {(c.claim.budget_mflops, c.claim.other_family): c for c in compare_with_paper(rows)}
    c = by_pair[(140, "MobileNet")]
    assert (c.basis, c.fd_ms, c.other_ms) == (MEASURED, 100.0, pytest.approx(110.0))
    assert c.ours == pytest.approx(1.1) and c.difference == pytest.approx(0.0)
    assert (c.ours_low, c.ours_high) == (pytest.approx(1.1), pytest.approx(1.1))  # constant samples: CI is a point
    assert c.verdict is Verdict.CONSISTENT
    c12 = by_pair[(12, "MobileNet")]
    # -0.9 % off, but our (point-wide) interval excludes the paper's 1.11: judged on the interval, never a tolerance
    assert c12.difference == pytest.approx(1.1 / 1.11 - 1) and c12.verdict is Verdict.INCONSISTENT
    for budget, paper in ((140, 1.33), (40, 1.47), (12, 1.82)):
        s = by_pair[(budget, "ShuffleNet")]
        assert s.ours == pytest.approx(2.5)
        assert s.difference == pytest.approx(2.5 / paper - 1)
        assert s.verdict is Verdict.INCONSISTENT and s.why.startswith(f"inconsistent: the paper's {paper:.2f}× lies outside")


def test_verdict_rule_edges():
    assert judge(1.1, 1.05, 1.2) is Verdict.CONSISTENT
    assert judge(1.1, 1.1, 1.1) is Verdict.CONSISTENT  # the edges belong to the interval
    assert judge(1.1, 0.95, 1.2) is Verdict.INCONCLUSIVE  # holds 1.0 too: cannot tell FD-MobileNet is faster
    assert judge(1.1, 1.0, 1.2) is Verdict.INCONCLUSIVE
    assert judge(1.1, 1.15, 1.4) is Verdict.INCONSISTENT
    assert judge(1.1, 0.7, 1.05) is Verdict.INCONSISTENT
    assert judge(1.1, None, None) is Verdict.INCONCLUSIVE  # a point value alone is never judged


def test_basis_preference_and_refusal_to_mix():
    fd = dict(model="fd_mobilenet_1.0x", ms=100.0)
    mn = dict(model="mobilenet_v1_0.5x", ms=120.0)

    def first(fd_kw, mn_kw):
        rows = [build_row(exact(fd["model"], fd["ms"], **fd_kw)), build_row(exact(mn["model"], mn["ms"], **mn_kw))]
        return compare_with_paper(rows)[0]

    both_modeled = first(dict(emulated=True, modeled_ms=50.0), dict(emulated=True, modeled_ms=60.0))
    assert both_modeled.basis == MODELED and both_modeled.ours == pytest.approx(1.2)
    # stored without its constants: no interval to judge on, and no verdict beyond inconclusive
    assert both_modeled.ours_low is None and both_modeled.verdict is Verdict.INCONCLUSIVE
    assert first(dict(modeled_ms=50.0), dict(modeled_ms=70.0)).basis == MEASURED
    wall = first(dict(emulated=True), dict(emulated=True))  # emulator speeds: no verdict on the board
    assert wall.basis is None and wall.verdict is None and wall.why.startswith("not modeled: QEMU wall time")
    mixed = first({}, dict(emulated=True))  # board vs emulator: never compared
    assert mixed.basis is None and mixed.ours is None and mixed.verdict is None
    assert mixed.why == "no latency of one kind for both models"


def test_not_run_failed_and_caution():
    rows = [
        build_row(exact("fd_mobilenet_1.0x", 100.0)),
        build_row(exact("mobilenet_v1_0.5x", 110.0, board_flags=("clock dropped 792000 -> 396000 kHz",))),
        build_row(exact("fd_mobilenet_0.5x", 0.0, status="failed")),
    ]
    by_other = {c.claim.other_model: c for c in compare_with_paper(rows)}
    assert by_other["mobilenet_v1_0.5x"].caution == ("mobilenet_v1_0.5x",)
    assert by_other["mobilenet_v1_0.5x"].why == ("consistent: the paper's 1.10× lies inside ours (1.10–1.10); "
                                                 "caution: mobilenet_v1_0.5x flagged")
    assert by_other["mobilenet_v1_0.25x"].why == "not run: mobilenet_v1_0.25x; failed: fd_mobilenet_0.5x"
    assert by_other["shufflenet_v1_g3_0.25x"].why == "not run: fd_mobilenet_0.25x, shufflenet_v1_g3_0.25x"


def test_modeled_speedups_are_not_cautioned_by_wall_time_flags():
    # Emulated wall time: few, noisy samples on a busy host. The modeled figures come from exact counts.
    noisy = dict(emulated=True, n=3, noise=0.3, board_flags=("busy before the run: load average 3.9 on 2 CPUs",))
    rows = [build_row(make_result("r", "fd_mobilenet_1.0x", modeled_ms=280.0, **noisy)),
            build_row(make_result("r", "mobilenet_v1_0.5x", modeled_ms=310.0, **noisy))]
    assert all(row.flags for row in rows)
    [c] = [c for c in compare_with_paper(rows) if c.claim.other_model == "mobilenet_v1_0.5x"]
    assert c.basis == MODELED and c.caution == () and c.verdict is Verdict.INCONCLUSIVE


# What a real emulated run stored for fd_mobilenet_0.25x on imx6 (one timed iteration's exact counts, what
# NCNN detected, the board view): the installed Cortex-A9 constants model it again in every report.
REAL_COUNTS = IterationCounts(instructions=5440483, simd_fp=3216556, integer=1063586, loads=628164, stores=196053,
                              branches=336124, bytes_loaded=23895264, bytes_stored=6863454, l1d_misses=498045,
                              l1i_misses=3276, l2_misses=196800)  # fmt: skip
IMX6_NCNN = NcnnCpuInfo(count=1, big=1, little=0, physical=1, l2_cache_bytes=131072, l3_cache_bytes=0,
                        a53_a55=False, isa=["edsp", "neon"])
BUSY = "busy before the run: load average 9.19 on 2 CPUs"


def emulated_modeled(model: str, scale: float = 1.0, **kw):
    """An emulated, counted result as `edgebench run` stores it: few noisy wall-time samples on a busy host,
    exact counts, the modeled figure with its CPU and clock."""
    a9 = load_constants()["cortex-a9"]
    r = make_result(RUN.id, model, emulated=True, n=3, noise=0.3, median_ms=7539.0, board_flags=(BUSY,), **kw)
    counts = dataclasses.replace(REAL_COUNTS, **{f: round(getattr(REAL_COUNTS, f) * scale) for f in
                                                 ("instructions", "l1d_misses", "l2_misses")})
    stored = ModeledLatency(ms=0.0, low_ms=None, high_ms=None, level=None, cpu="cortex-a9", clock_mhz=800.0,
                            cache=a9.cache, constants_id=a9.identity)
    board = dataclasses.replace(r.board, ncnn_cpu=IMX6_NCNN, system_view="imx6 view d8c2b2202883")
    return dataclasses.replace(r, counters=[counts] * 3, modeled=stored, modeled_ms=0.0, board=board)


def test_emulated_headline_is_the_modeled_latency_with_its_cpu_and_clock():
    row = build_row(emulated_modeled("fd_mobilenet_0.25x", mflops=12.0))
    h = row.headline
    assert h.basis == MODELED and h.ms == row.modeled_ms and h.low_ms < h.ms < h.high_ms and h.level == 0.9
    assert (h.cpu, h.clock_mhz) == ("cortex-a9", 800.0) and h.describe() == "modeled, cortex-a9 @ 800 MHz"
    assert 10 < h.ms < 100  # tens of ms on the board, while QEMU took seconds per iteration
    # The wall-time flags (few samples, spread, the busy host) concern QEMU's wall time only: kept apart.
    assert not any(f.startswith(("few samples", "wide spread", "busy")) for f in row.flags)
    assert BUSY in row.wall_time_flags and any(f.startswith("few samples") for f in row.wall_time_flags)
    assert row.ncnn_cpu == IMX6_NCNN and row.system_view == "imx6 view d8c2b2202883"


def test_headline_elsewhere():
    board = build_row(make_result(RUN.id, "m_1.0x", noise=0.3, n=3))
    assert board.headline.basis == MEASURED and board.headline.ms == board.summary.median
    assert board.headline.clock_mhz == 792.0 and board.headline.level == 0.95
    assert any(f.startswith("few samples") for f in board.flags) and board.wall_time_flags == ()
    uncounted = build_row(make_result(RUN.id, "m_1.0x", emulated=True, n=3, noise=0.3, board_flags=(BUSY,)))
    assert uncounted.headline.basis == EMULATED and BUSY in uncounted.flags  # the wall time is all it has
    assert build_row(make_result(RUN.id, "m_1.0x", status="failed")).headline is None


@functools.cache  # a Report is frozen: built once, laid out by many tests
def _mixed_report(paper=True):
    results = paper_results()
    results[1] = dataclasses.replace(results[1], error=None)
    results.append(make_result(RUN.id, "effnet_cifar10", mflops=None, counters=3, modeled_ms=2.5, emulated=True,
                               board_flags=("flag | with pipe",)))  # fmt: skip
    results.append(make_result(RUN.id, "broken_1.0x", status="failed"))
    return build_report(RUN, results, paper=paper)


@functools.cache
def _emulated_report():
    return build_report(RUN, [emulated_modeled("fd_mobilenet_0.25x", mflops=12.0),
                              emulated_modeled("shufflenet_v1_g3_0.25x", 1.8, mflops=13.0),
                              emulated_modeled("a_user_model_with_a_rather_long_name_v2", 3.0, mflops=300.0),
                              make_result(RUN.id, "broken_1.0x", status="failed")], paper=True)


def test_markdown_content():
    md = to_markdown(_mixed_report(), verbose=True)
    lines = md.splitlines()
    assert lines[0] == f"### Run {RUN.id} · imx6 · 2026-11-23T10:00:00Z · edgebench 0.1.0"
    assert lines[2] == ("| Model | Latency ms (interval) | Basis | M MACs | n (warm-up) | Device | QEMU ms † | MAD | "
                        "Peak RSS MB | First ms | Load ms | Flags |")
    assert ("| fd_mobilenet_1.0x | 100.0 (100.0–100.0) | measured @ 792 MHz | 144.5 | "
            "20 (5) | imx6 | – | 0.0% | 20.0 | 170.0 | 12.50 | – |") in lines
    effnet = next(line for line in lines if line.startswith("| effnet_cifar10"))
    assert "| 2.500 | modeled |" in effnet and "| imx6 † |" in effnet and "QEMU wall time: flag \\| with pipe" in effnet
    assert effnet.count(" | ") == 11  # the escaped pipe did not add a cell
    assert any(line.startswith("- † QEMU wall time (qemu-arm -cpu cortex-a9: QEMU ms,") for line in lines)
    assert any(line.startswith("- Latency ms: measured = median") and "modeled = predicted" in line for line in lines)
    assert any(line.startswith("- M MACs: millions of multiply-adds") for line in lines)
    assert "| 140 M MACs | fd_mobilenet_1.0x | mobilenet_v1_0.5x | 1.10× | 1.10× | 1.10–1.10 | consistent | measured |" in md
    assert "| 12 M MACs | fd_mobilenet_0.25x | shufflenet_v1_g3_0.25x | 1.82× | 2.50× |" in md
    assert "no absolute ms" in md
    assert "QEMU wall time: flag" not in to_markdown(_mixed_report())  # without --verbose: counted, not shown
    assert "1 flag(s) about it not shown (--verbose shows them)" in to_markdown(_mixed_report())


def test_markdown_of_an_emulated_run_leads_with_the_modeled_figure():
    md = to_markdown(_emulated_report())
    fd = next(line for line in md.splitlines() if line.startswith("| fd_mobilenet_0.25x"))
    cells_ = [c.strip() for c in fd.strip("|").split(" | ")]
    assert cells_[2] == "modeled, cortex-a9 @ 800 MHz" and "–" in cells_[1] and "†" not in cells_[1]
    assert cells_[6].endswith("†") and "," in cells_[6]  # QEMU's seconds, secondary and marked
    assert "busy" not in fd and "few samples" not in fd
    assert "- imx6: NCNN detected 1 CPU, L2 128 KiB; edsp neon; system view imx6 view d8c2b2202883" in md


def test_markdown_without_paper_or_model_rows_notes():
    report = build_report(RUN, [exact("fd_mobilenet_1.0x", 100.0)])
    md = to_markdown(report)
    assert "Table 4" not in md and "modeled = predicted" not in md and "†" not in md
    assert "- imx6: ARMv7 Processor rev 10 (v7l); what NCNN detected was not recorded (stored before it was)" in md


def test_json_content():
    report = _mixed_report()
    data = json.loads(to_json(report))
    assert data["run"]["id"] == RUN.id
    rows = {r["model"]: r for r in data["rows"]}
    assert rows["fd_mobilenet_1.0x"]["summary"]["median"] == 100.0
    assert rows["fd_mobilenet_1.0x"]["timed_on"] == "board"
    assert rows["fd_mobilenet_1.0x"]["headline"]["basis"] == "measured"
    assert rows["effnet_cifar10"]["timed_on"] == "qemu-arm -cpu cortex-a9"
    assert rows["effnet_cifar10"]["modeled_ms"] == 2.5 and rows["effnet_cifar10"]["macs_m"] is None
    assert rows["effnet_cifar10"]["headline"] == {"basis": "modeled", "ms": 2.5, "low_ms": None, "high_ms": None,
                                                  "level": None, "cpu": None, "clock_mhz": None}
    assert rows["effnet_cifar10"]["wall_time_flags"] == ["flag | with pipe"]
    assert rows["effnet_cifar10"]["summary"]["n"] == 30
    assert rows["broken_1.0x"]["summary"] is None and rows["broken_1.0x"]["status"] == "failed"
    comparisons = data["paper"]["comparisons"]
    assert len(comparisons) == 6 and any("never on a point value" in n for n in data["paper"]["notes"])
    assert comparisons[0]["ours"] == pytest.approx(1.1) and comparisons[0]["basis"] == "measured"
    assert comparisons[0]["verdict"] == "consistent" and comparisons[3]["verdict"] == "inconsistent"
    assert "no absolute ms" in data["paper"]["note"]


def test_json_of_an_emulated_run_names_cpu_clock_and_what_ncnn_saw():
    data = json.loads(to_json(_emulated_report()))
    fd = data["rows"][0]
    assert fd["headline"]["basis"] == "modeled" and fd["headline"]["cpu"] == "cortex-a9"
    assert fd["headline"]["clock_mhz"] == 800.0 and fd["headline"]["level"] == 0.9
    assert fd["ncnn_cpu"] == dataclasses.asdict(IMX6_NCNN) and fd["system_view"] == "imx6 view d8c2b2202883"
    assert data["devices"] == ["imx6: NCNN detected 1 CPU, L2 128 KiB; edsp neon; system view imx6 view d8c2b2202883"]


def test_csv_content():
    report = _mixed_report()
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [r["model"] for r in rows] == [r.model for r in report.rows]
    fd = rows[0]
    s = report.rows[0].summary
    assert float(fd["median_ms"]) == s.median and float(fd["p99_ms"]) == s.p99 and fd["timed_on"] == "board"
    assert fd["headline_basis"] == "measured" and float(fd["headline_ms"]) == s.median
    effnet = next(r for r in rows if r["model"] == "effnet_cifar10")
    assert effnet["modeled_ms"] == "2.5" and effnet["macs_m"] == "" and effnet["timed_on"].startswith("qemu-arm")
    assert effnet["headline_basis"] == "modeled" and effnet["wall_time_flags"] == "flag | with pipe"
    assert float(effnet["median_ms"]) == report.rows[-2].summary.median
    assert effnet["instructions_per_iter"] == "1234567890124"
    broken = rows[-1]
    assert broken["status"] == "failed" and broken["median_ms"] == "" and broken["flags"].startswith("failed:")
    paper_rows = list(csv.DictReader(io.StringIO(paper_to_csv(report))))
    assert len(paper_rows) == 6
    assert float(paper_rows[3]["our_speedup"]) == pytest.approx(2.5) and paper_rows[3]["paper_speedup"] == "1.33"
    emulated = list(csv.DictReader(io.StringIO(to_csv(_emulated_report()))))[0]
    assert (emulated["headline_cpu"], emulated["headline_clock_mhz"]) == ("cortex-a9", "800.0")
    assert emulated["system_view"] == "imx6 view d8c2b2202883" and emulated["ncnn_cpu"].startswith("1 CPU, L2 128")


def _render(report, width, **kw) -> str:
    buffer = io.StringIO()
    render_table(report, Console(file=buffer, width=width, no_color=True), **kw)
    return buffer.getvalue()


def test_terminal_table_content():
    text = _render(_mixed_report(), 260)
    for needle in ("fd_mobilenet_1.0x", "shufflenet_v1_g3_0.25x", "imx6 †", "100.0 (100.0–100.0)", "2.500",
                   "failed: runner died with SIGILL", "FD-MobileNet paper, Table 4",
                   "inconsistent: the paper's 1.82× lies outside ours (2.50–2.50)",
                   "no absolute ms"):  # fmt: skip
        assert needle in text, needle
    emulated = _render(_emulated_report(), 100)
    fd = next(line for line in emulated.splitlines() if line.startswith("fd_mobilenet_0.25x"))
    assert "modeled, cortex-a9 @ 800 MHz" in fd and "7,5" not in fd  # QEMU's seconds are not the headline
    assert "imx6: NCNN detected 1 CPU, L2 128 KiB; edsp neon; system view imx6 view d8c2b2202883" in emulated
    assert BUSY not in emulated and "(--verbose shows them)" in emulated
    assert f"QEMU wall time: {BUSY}" in _render(_emulated_report(), 100, verbose=True)


@pytest.mark.parametrize("width", [80, 100, 140])
@pytest.mark.parametrize("which", ["mixed", "emulated"])
def test_tables_fit_the_terminal_and_say_what_they_leave_out(width, which):
    """Every line fits; every cell is shown whole, or its column is named as not shown, or it is cut with an
    ellipsis and the column is named as cut."""
    report = _mixed_report() if which == "mixed" else _emulated_report()
    text = _render(report, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    tables = [(cells.model_columns(report), report.rows, text.split("FD-MobileNet paper, Table 4")[0]),
              (cells.PAPER_COLUMNS, report.paper, text.split("FD-MobileNet paper, Table 4")[1])]
    for columns, items, part in tables:
        hidden = next((line for line in part.splitlines() if line.startswith("Not shown at")), "")
        joined = " ".join(part.split())  # the notice may wrap
        for item in items:
            for col in columns:
                value = col.cell(item)
                if value in part:
                    continue
                shown_cut = any(value[:n] + ELLIPSIS in part for n in range(MIN_CUT_WIDTH - 1, len(value)))
                notice = re.search(r"Not shown at \d+ columns: (.*?) \(`edgebench report --wide`", joined)
                named_hidden = notice is not None and col.column.header in notice.group(1).split(", ")
                named_cut = re.search(f"{ELLIPSIS} marks [^(]*{re.escape(col.column.header)}", joined) is not None
                assert named_hidden or (shown_cut and named_cut), (width, col.column.header, value)
        assert (hidden != "") == any(col.cell(items[0]) not in part for col in columns) or ELLIPSIS in part
    wide = _render(report, width, wide=True)
    for item in report.rows:
        assert all(value in wide for value in cells.model_cells(item, cells.model_columns(report)))  # --wide: all


def test_plot_measured_with_paper_points(tmp_path):
    report = _mixed_report()
    summary = plot_latency(report, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:8] == PNG_MAGIC
    assert summary.basis == MEASURED
    assert len(summary.plotted) == 9
    assert summary.left_out == ("effnet_cifar10", "broken_1.0x")
    assert summary.paper_points == 6


def test_plot_modeled_when_that_is_what_we_have(tmp_path):
    results = [dataclasses.replace(r, board=dataclasses.replace(r.board, emulated=True), modeled_ms=r.samples_ms[0])
               for r in paper_results()]  # fmt: skip
    summary = plot_latency(build_report(RUN, results), tmp_path / "m.png")
    assert summary.basis == MODELED and summary.paper_points == 6


def test_plot_with_nothing_to_plot(tmp_path):
    report = build_report(RUN, [make_result(RUN.id, "m_1.0x", mflops=None)])
    with pytest.raises(EdgebenchError, match="nothing to plot"):
        plot_latency(report, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path))
    return tmp_path


def _store_run(device="imx6", results=None):
    with Store() as s:
        run_id = s.begin_run(device, ["edgebench", "run", "--device", device])
        for r in results if results is not None else paper_results():
            s.add_result(dataclasses.replace(r, run_id=run_id, device=device))
    return run_id


def test_cli_empty_store(data_dir):
    runner = CliRunner()
    res = runner.invoke(main, ["results"])
    assert res.exit_code == 0 and "no runs stored" in res.stderr and res.stdout == ""
    assert json.loads(runner.invoke(main, ["results", "--json"]).stdout) == []
    res = runner.invoke(main, ["report"])
    assert res.exit_code == 2 and "no results store" in res.stderr
    assert not (data_dir / "results.sqlite3").exists()  # reading never creates the store
    Store().close()
    res = runner.invoke(main, ["report"])
    assert res.exit_code == 2 and "no runs stored" in res.stderr


def test_cli_results_and_report(data_dir, tmp_path):
    first = _store_run("imx6")
    second = _store_run("qemu-a9", [make_result(RUN.id, "fd_mobilenet_1.0x", emulated=True, modeled_ms=90.0)])
    runner = CliRunner()
    runs = json.loads(runner.invoke(main, ["results", "--json"]).stdout)
    assert [r["id"] for r in runs] == [second, first]
    assert (runs[1]["models"], runs[1]["measured"], runs[0]["emulated"], runs[0]["modeled"]) == (9, 9, 1, 1)
    res = runner.invoke(main, ["results"])
    assert res.exit_code == 0 and first in res.stdout and "qemu-a9" in res.stdout

    res = runner.invoke(main, ["report"])  # the latest run
    assert res.exit_code == 0 and second in res.stdout and "qemu-arm -cpu cortex-a9" in res.stdout
    res = runner.invoke(main, ["report", first[:-3], "--format", "md", "--paper"])
    assert res.exit_code == 0 and res.stdout.startswith(f"### Run {first}") and "| 1.10× | 1.10× |" in res.stdout
    res = runner.invoke(main, ["report", "--device", "imx6", "--json"])
    assert json.loads(res.stdout)["run"]["id"] == first

    out, png = tmp_path / "r.csv", tmp_path / "latency.png"
    res = runner.invoke(main, ["report", first, "--format", "csv", "--out", str(out), "--plot", str(png)])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "" and f"wrote {out}" in res.stderr and "6 paper points" in res.stderr
    assert len(list(csv.DictReader(out.open()))) == 9
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_cli_bad_input(data_dir, tmp_path):
    _store_run()
    runner = CliRunner()
    res = runner.invoke(main, ["report", "nope"])
    assert res.exit_code == 2 and "no run 'nope'" in res.stderr
    res = runner.invoke(main, ["report", "--plot", str(tmp_path / "x.jpg")])
    assert res.exit_code == 2 and "does not end in .png" in res.stderr
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not sqlite at all" * 10)
    res = runner.invoke(main, ["results", "--store", str(bad)])
    assert res.exit_code == 2 and "damaged" in res.stderr and "Traceback" not in res.output
    with Store() as s:
        empty_run = s.begin_run("imx6", [])
    res = runner.invoke(main, ["report", empty_run])
    assert res.exit_code == 2 and "has no results stored" in res.stderr
