"""Reports built from RunResult objects made in code (the real input), checked format by format, and the CLI."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console
from result_factory import make_result

from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.report import paper as paper_mod
from edgebench.report.markdown import to_markdown
from edgebench.report.model import build_report
from edgebench.report.paper import TABLE4, Verdict, compare_with_paper, judge
from edgebench.report.plot import plot_latency
from edgebench.report.rows import EMULATED, MEASURED, MODELED, build_row, family_of
from edgebench.report.table import render_table
from edgebench.report.tabular import paper_to_csv, to_csv, to_json
from edgebench.stats import summarize
from edgebench.store import RunInfo, Store

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
    assert first(dict(emulated=True), dict(emulated=True)).basis == EMULATED
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


def _mixed_report(paper=True):
    results = paper_results()
    results[1] = dataclasses.replace(results[1], error=None)
    results.append(make_result(RUN.id, "effnet_cifar10", mflops=None, counters=3, modeled_ms=2.5, emulated=True,
                               board_flags=("flag | with pipe",)))  # fmt: skip
    results.append(make_result(RUN.id, "broken_1.0x", status="failed"))
    return build_report(RUN, results, paper=paper)


def test_markdown_content():
    md = to_markdown(_mixed_report())
    lines = md.splitlines()
    assert lines[0] == f"### Run {RUN.id} · imx6 · 2026-11-23T10:00:00Z · edgebench 0.1.0"
    assert lines[2].startswith("| Model | Device | Median ms | 95% CI ms | MAD | n (warm-up) | Modeled ms |")
    assert "| fd_mobilenet_1.0x | imx6 | 100.0 | 100.0–100.0 | 0.0% | 20 (5) | – | – | 144.5 | 170.0 | 12.50 | 20.0 | – |" in lines
    effnet = next(line for line in lines if line.startswith("| effnet_cifar10"))
    assert "imx6 †" in effnet and "| 2.500 |" in effnet and "flag \\| with pipe" in effnet
    assert effnet.count(" | ") == 12  # the escaped pipe did not add a cell
    assert any(line.startswith("- † emulated (qemu-arm -cpu cortex-a9)") for line in lines)
    assert any(line.startswith("- Modeled ms: predicted") for line in lines)
    assert "| 140 MFLOPs | fd_mobilenet_1.0x | mobilenet_v1_0.5x | 1.10× | 1.10× | 1.10–1.10 | measured | – | +0.0% | consistent" in md
    assert "| 12 MFLOPs | fd_mobilenet_0.25x | shufflenet_v1_g3_0.25x | 1.82× | 2.50× |" in md
    assert "no absolute ms" in md


def test_markdown_without_paper_or_model_rows_notes():
    report = build_report(RUN, [exact("fd_mobilenet_1.0x", 100.0)])
    md = to_markdown(report)
    assert "Table 4" not in md and "Modeled ms: predicted" not in md and "†" not in md


def test_json_content():
    report = _mixed_report()
    data = json.loads(to_json(report))
    assert data["run"]["id"] == RUN.id
    rows = {r["model"]: r for r in data["rows"]}
    assert rows["fd_mobilenet_1.0x"]["summary"]["median"] == 100.0
    assert rows["fd_mobilenet_1.0x"]["timed_on"] == "board"
    assert rows["effnet_cifar10"]["timed_on"] == "qemu-arm -cpu cortex-a9"
    assert rows["effnet_cifar10"]["modeled_ms"] == 2.5 and rows["effnet_cifar10"]["mflops"] is None
    assert rows["effnet_cifar10"]["summary"]["n"] == 30
    assert rows["broken_1.0x"]["summary"] is None and rows["broken_1.0x"]["status"] == "failed"
    comparisons = data["paper"]["comparisons"]
    assert len(comparisons) == 6 and any("never on a point value" in n for n in data["paper"]["notes"])
    assert comparisons[0]["ours"] == pytest.approx(1.1) and comparisons[0]["basis"] == "measured"
    assert comparisons[0]["verdict"] == "consistent" and comparisons[3]["verdict"] == "inconsistent"
    assert "no absolute ms" in data["paper"]["note"]


def test_csv_content():
    report = _mixed_report()
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [r["model"] for r in rows] == [r.model for r in report.rows]
    fd = rows[0]
    s = report.rows[0].summary
    assert float(fd["median_ms"]) == s.median and float(fd["p99_ms"]) == s.p99 and fd["timed_on"] == "board"
    effnet = next(r for r in rows if r["model"] == "effnet_cifar10")
    assert effnet["modeled_ms"] == "2.5" and effnet["mflops"] == "" and effnet["timed_on"].startswith("qemu-arm")
    assert float(effnet["median_ms"]) == report.rows[-2].summary.median
    assert effnet["instructions_per_iter"] == "1234567890124"
    broken = rows[-1]
    assert broken["status"] == "failed" and broken["median_ms"] == "" and broken["flags"].startswith("failed:")
    paper_rows = list(csv.DictReader(io.StringIO(paper_to_csv(report))))
    assert len(paper_rows) == 6
    assert float(paper_rows[3]["our_speedup"]) == pytest.approx(2.5) and paper_rows[3]["paper_speedup"] == "1.33"


def test_terminal_table_content():
    buffer = io.StringIO()
    render_table(_mixed_report(), Console(file=buffer, width=260, no_color=True))
    text = buffer.getvalue()
    for needle in ("fd_mobilenet_1.0x", "shufflenet_v1_g3_0.25x", "imx6 †", "100.0–100.0", "Modeled ms", "2.500",
                   "failed: runner died with SIGILL", "FD-MobileNet paper, Table 4",
                   "inconsistent: the paper's 1.82× lies outside ours (2.50–2.50)",
                   "no absolute ms"):  # fmt: skip
        assert needle in text, needle


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
