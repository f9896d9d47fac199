"""`edgebench baseline save` and `edgebench check`, fed with RunResults built in code (the real input) and stored
in a real Store in a tmp data dir; the CLI is driven end to end through click."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from result_factory import make_result

from edgebench.results.baseline import (
    FORMAT,
    SCHEMA_VERSION,
    baseline_from_results,
    load_baseline,
    median_counts,
    save_baseline,
)
from edgebench.results.check import CheckSettings, Outcome, check_run
from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.report.check import to_markdown
from edgebench.results.result import IterationCounts, NcnnCpuInfo, RunResult
from edgebench.results.significance import mann_whitney_p
from edgebench.results.store import Store

MODELS = ("fd_mobilenet_1.0x", "mobilenet_v1_0.5x", "shufflenet_v1_g3_1.0x")

IMPROVEMENT, MISSING, NOT_COMPARABLE, OK, REGRESSION = (Outcome.IMPROVEMENT, Outcome.MISSING, Outcome.NOT_COMPARABLE,
                                                    Outcome.OK, Outcome.REGRESSION)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def emulated(model: str, *, scale: float = 1.0, modeled_ms: float | None = 120.0, seed: int = 0) -> RunResult:
    """An emulated-target result with 5 counted iterations; `scale` makes every count (and modeled ms) heavier."""
    r = make_result("", model, emulated=True, counters=5, modeled_ms=modeled_ms, seed=seed, noise=0.2)
    return dataclasses.replace(
        r,
        counters=[_scaled(c, scale) for c in r.counters],
        modeled_ms=None if modeled_ms is None else modeled_ms * scale,
    )


def _scaled(c: IterationCounts, scale: float) -> IterationCounts:
    return IterationCounts(**{k: round(v * scale) for k, v in dataclasses.asdict(c).items()})


def board(model: str, *, median_ms: float = 100.0, seed: int = 0, n: int = 30, noise: float = 0.02) -> RunResult:
    """A real-board result: `n` lognormal samples around `median_ms` with relative spread `noise`."""
    return make_result("", model, median_ms=median_ms, seed=seed, n=n, noise=noise)


def store_run(results: list[RunResult], device: str = "imx6") -> str:
    with Store() as s:
        run_id = s.begin_run(device, ["edgebench", "run", "--device", device])
        for r in results:
            s.add_result(dataclasses.replace(r, run_id=run_id, device=device))
    return run_id


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def save(tmp_path, *extra: str, device: str = "imx6"):
    path = tmp_path / "baseline.json"
    res = invoke("baseline", "save", str(path), "--device", device, *extra)
    assert res.exit_code == 0, res.output
    return path


# --- emulated targets: exact counters ---------------------------------------------------------------------


def test_unchanged_counts_pass(data_dir):
    store_run([emulated(m) for m in MODELS])
    path = save(data_dir)
    store_run([emulated(m, seed=9) for m in MODELS])  # other wall times: they do not matter under emulation
    res = invoke("check", "--baseline", str(path), "--device", "imx6", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert [c["outcome"] for c in report["checks"]] == [OK] * 3
    assert {c["method"] for c in report["checks"]} == {"counters"}
    changes = report["checks"][0]["changes"]
    assert [c["metric"] for c in changes] == ["instructions", "memory bytes", "L1 misses", "L2 misses", "modeled ms"]
    assert all(c["change_pct"] == 0 for c in changes)


def test_five_percent_more_instructions_fails_and_names_the_model(data_dir):
    store_run([emulated(m) for m in MODELS])
    path = save(data_dir)
    heavier = emulated(MODELS[1])
    heavier = dataclasses.replace(heavier, counters=[dataclasses.replace(c, instructions=round(c.instructions * 1.05))
                                                     for c in heavier.counters])
    store_run([emulated(MODELS[0]), heavier, emulated(MODELS[2])])
    res = invoke("check", "--baseline", str(path), "--device", "imx6")
    assert res.exit_code == 1, res.output
    assert "REGRESSION" in res.stderr
    line = next(ln for ln in res.stderr.splitlines() if ln.strip().startswith(MODELS[1]))
    assert "regression" in line and "instructions" in line and "+5.00%" in line
    assert MODELS[0] not in res.stderr  # only the regressed model is called out
    assert MODELS[1] in res.stdout and "regression" in res.stdout  # and the table shows it


def test_tolerance_default_per_model_file_and_command_line(data_dir):
    base = [emulated(m) for m in MODELS]
    b = baseline_from_results("r0", base, tolerances={MODELS[0]: 10.0})
    now = [emulated(MODELS[0], scale=1.05), emulated(MODELS[1], scale=1.005), emulated(MODELS[2], scale=0.9)]
    report = check_run(b, now)
    assert [c.outcome for c in report.checks] == [OK, OK, IMPROVEMENT]  # file: 10 % for model 0; default 1 %
    assert report.checks[0].limit_pct == 10.0 and report.checks[1].limit_pct == 1.0
    report = check_run(b, now, settings=CheckSettings(tolerance_pct=0.1, per_model_pct={MODELS[0]: 3.0}))
    assert [c.outcome for c in report.checks] == [REGRESSION, REGRESSION, IMPROVEMENT]
    assert report.exit_code == 1
    assert "instructions" in report.checks[0].detail and "beyond ±3%" in report.checks[0].detail


def test_modeled_latency_alone_is_compared(data_dir):
    b = baseline_from_results("r0", [dataclasses.replace(emulated(MODELS[0]), counters=None)])
    r = dataclasses.replace(emulated(MODELS[0]), counters=None, modeled_ms=120.0 * 1.02)
    check = check_run(b, [r]).checks[0]
    assert (check.outcome, [c.metric for c in check.changes]) == (REGRESSION, ["modeled ms"])


def test_modeled_latency_moving_alone_means_the_latency_model_changed():
    b = baseline_from_results("r0", [emulated(MODELS[0])])
    recalibrated = dataclasses.replace(emulated(MODELS[0]), modeled_ms=120.0 * 1.04)
    check = check_run(b, [recalibrated]).checks[0]
    assert check.outcome == NOT_COMPARABLE and "latency model's constants changed" in check.detail
    assert "modeled ms 120.0 -> 124.8 (+4.00%)" in check.detail
    heavier = emulated(MODELS[0], scale=1.04)  # counts and modeled ms move together: the model's doing
    assert check_run(b, [heavier]).checks[0].outcome == REGRESSION


def test_counters_lost_or_never_there_is_not_comparable():
    b = baseline_from_results("r0", [emulated(MODELS[0])])
    check = check_run(b, [dataclasses.replace(emulated(MODELS[0]), counters=None)]).checks[0]
    assert check.outcome == NOT_COMPARABLE and "counters" in check.detail
    blind = baseline_from_results("r0", [emulated(MODELS[0], modeled_ms=None)])
    blind = dataclasses.replace(blind, models=[dataclasses.replace(blind.models[0], counters=None,
                                                                   counter_iterations=0)])
    check = check_run(blind, [emulated(MODELS[0], modeled_ms=None)]).checks[0]
    assert check.outcome == NOT_COMPARABLE and "nothing to compare" in check.detail


def test_changed_artifact_and_mflops_are_noted():
    b = baseline_from_results("r0", [emulated(MODELS[0])])
    wider = dataclasses.replace(emulated(MODELS[0], scale=1.3), artifact_sha256="cd" * 32, mflops=182.0)
    check = check_run(b, [wider]).checks[0]
    assert check.outcome == REGRESSION
    assert any("artifact changed" in n for n in check.notes) and any("M MACs 140.00 -> 182.00" in n for n in check.notes)


# --- real boards: significance plus minimum effect ---------------------------------------------------------


def test_board_noise_alone_never_fails():
    """Two sample sets from one distribution: 300 pairs, none may fail (alpha 1 % AND a 5 % minimum effect)."""
    outcomes = []
    for seed in range(300):
        b = baseline_from_results("r0", [board(MODELS[0], seed=2 * seed, noise=0.03)])
        outcomes.append(check_run(b, [board(MODELS[0], seed=2 * seed + 1, noise=0.03)]).checks[0].outcome)
    assert set(outcomes) == {OK}


def test_board_noise_passes_on_the_command_line(data_dir):
    store_run([board(m, seed=i) for i, m in enumerate(MODELS)])
    path = save(data_dir)
    store_run([board(m, seed=10 + i) for i, m in enumerate(MODELS)])
    res = invoke("check", "--baseline", str(path), "--device", "imx6")
    assert res.exit_code == 0, res.output
    assert "passed: 3 of 3 ok" in res.stderr and "within noise" in res.stdout


def test_board_ten_percent_slower_fails(data_dir):
    store_run([board(m, seed=i) for i, m in enumerate(MODELS)])
    path = save(data_dir)
    store_run([board(MODELS[0], seed=10), board(MODELS[1], seed=11, median_ms=110.0), board(MODELS[2], seed=12)])
    res = invoke("check", "--baseline", str(path), "--device", "imx6", "--json")
    assert res.exit_code == 1, res.output
    checks = {c["model"]: c for c in json.loads(res.stdout)["checks"]}
    slow = checks[MODELS[1]]
    assert slow["outcome"] == REGRESSION and slow["method"] == "significance" and slow["p_value"] < 1e-6
    assert 8.0 < slow["changes"][0]["change_pct"] < 12.0
    assert checks[MODELS[0]]["outcome"] == checks[MODELS[2]]["outcome"] == OK


def test_board_guards_each_alone_are_not_enough():
    # Significant but small: 2 % slower with 200 tight samples is real, yet under the 5 % minimum effect.
    b = baseline_from_results("r0", [board(MODELS[0], n=200, noise=0.005)])
    check = check_run(b, [board(MODELS[0], n=200, noise=0.005, median_ms=102.0, seed=1)]).checks[0]
    assert check.outcome == OK and check.p_value < 1e-6 and "within the 5% minimum effect" in check.detail
    # Large but not significant: a 10 % shift drowned in 40 % noise with a dozen samples.
    b = baseline_from_results("r0", [board(MODELS[0], n=12, noise=0.4, seed=3)])
    check = check_run(b, [board(MODELS[0], n=12, noise=0.4, median_ms=110.0, seed=4)]).checks[0]
    assert check.outcome == OK and check.p_value >= 0.01 and "within noise" in check.detail
    # 10 % faster is an improvement, never a failure.
    b = baseline_from_results("r0", [board(MODELS[0])])
    report = check_run(b, [board(MODELS[0], median_ms=90.0, seed=1)])
    assert report.checks[0].outcome == IMPROVEMENT and report.exit_code == 0


def test_board_too_few_samples_is_not_comparable():
    b = baseline_from_results("r0", [board(MODELS[0], n=5)])
    check = check_run(b, [board(MODELS[0], n=30, seed=1)]).checks[0]
    assert check.outcome == NOT_COMPARABLE and "too few samples" in check.detail


def test_mann_whitney_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    cases = [
        (rng.normal(10, 1, 30), rng.normal(10.5, 1, 25)),
        (rng.normal(10, 1, 12), rng.normal(10, 1, 40)),
        (np.round(rng.normal(10, 1, 50)), np.round(rng.normal(10.3, 1, 50))),  # many ties
        (np.arange(20.0), np.arange(20.0) + 100),  # complete separation
    ]
    for x, y in cases:
        expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue
        assert mann_whitney_p(x, y) == pytest.approx(expected, rel=1e-9)
    assert mann_whitney_p([5.0] * 10, [5.0] * 10) == 1.0


# --- outcomes per model and the exit code -----------------------------------------------------------------


def test_missing_and_failed_models_could_not_check(data_dir):
    store_run([emulated(m) for m in MODELS])
    path = save(data_dir)
    failed = make_result("", MODELS[1], status="failed", emulated=True)
    store_run([emulated(MODELS[0]), failed])
    res = invoke("check", "--baseline", str(path), "--json")  # device defaults to the baseline's
    assert res.exit_code == 2, res.output
    checks = {c["model"]: c for c in json.loads(res.stdout)["checks"]}
    assert checks[MODELS[2]]["outcome"] == MISSING and checks[MODELS[1]]["outcome"] == NOT_COMPARABLE
    assert "SIGILL" in checks[MODELS[1]]["detail"]
    # Only the model that is there: a clean pass.
    res = invoke("check", "--baseline", str(path), "--model", MODELS[0])
    assert res.exit_code == 0, res.output
    # A regression outranks what could not be checked.
    store_run([emulated(MODELS[0], scale=1.1)])
    assert invoke("check", "--baseline", str(path)).exit_code == 1


def test_models_not_in_the_baseline(data_dir):
    store_run([emulated(MODELS[0])])
    path = save(data_dir)
    store_run([emulated(MODELS[0]), emulated(MODELS[1])])
    res = invoke("check", "--baseline", str(path))
    assert res.exit_code == 0 and f"Not in the baseline, not checked: {MODELS[1]}" in res.stdout
    res = invoke("check", "--baseline", str(path), "--model", MODELS[1])
    assert res.exit_code == 2 and f"not in the baseline: {MODELS[1]}" in res.stderr
    res = invoke("check", "--baseline", str(path), "--tolerance", "nosuchmodel=3")
    assert res.exit_code == 2 and "not in the baseline: nosuchmodel" in res.stderr


def test_suite_selection_names_what_the_run_lacks(data_dir):
    store_run([emulated(m) for m in MODELS])
    res = invoke("baseline", "save", str(data_dir / "b.json"), "--device", "imx6", "--suite", "paper")
    assert res.exit_code == 2
    missing, held = res.stderr.split("has no result for ")[1].split("hint: it holds: ")
    assert "fd_mobilenet_0.5x" in missing and "fd_mobilenet_1.0x" not in missing and MODELS[0] in held
    assert not (data_dir / "b.json").exists()


# --- identity: device, NCNN version, runtime build ---------------------------------------------------------


def test_other_device_refused_unless_allowed(data_dir):
    store_run([emulated(m) for m in MODELS], device="imx6")
    path = save(data_dir)
    store_run([emulated(m) for m in MODELS], device="rpi3")
    res = invoke("check", "--baseline", str(path), "--device", "rpi3")
    assert res.exit_code == 2
    assert "another setup" in res.stderr and "device: imx6 -> rpi3" in res.stderr and "--allow-mismatch" in res.stderr
    res = invoke("check", "--baseline", str(path), "--device", "rpi3", "--allow-mismatch")
    assert res.exit_code == 0, res.output
    assert "WARNING: compared despite a different setup" in res.stderr and "device: imx6 -> rpi3" in res.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ncnn_version": "1.0.20250503"}, "ncnn_version: 1.0.20261020 -> 1.0.20250503"),
        ({"runtime_key": "armv7-a9-000000"}, "runtime_key: armv7-a9-3f2e1d -> armv7-a9-000000"),
        ({"threads": 2}, "runner setting threads: 1 -> 2"),
        # The board's system view and what NCNN saw in it are inputs of the counts too: named when they moved.
        ({"system_view": "imx6 view 000000000000"}, "system_view: None -> imx6 view 000000000000"),
        ({"ncnn_cpu": NcnnCpuInfo(2, 2, 0, 2, 2097152, 0, False, ["edsp", "neon"])},
         "ncnn_cpu: None -> 2 CPUs, L2 2048 KiB; edsp neon"),
    ],
)
def test_other_build_refused_unless_allowed(data_dir, change, named):
    store_run([emulated(m) for m in MODELS])
    path = save(data_dir)

    def changed(r: RunResult) -> RunResult:
        if "threads" in change:
            return dataclasses.replace(r, settings=dataclasses.replace(r.settings, **change))
        if {"system_view", "ncnn_cpu"} & set(change):
            return dataclasses.replace(r, board=dataclasses.replace(r.board, **change))
        return dataclasses.replace(r, **change)

    store_run([changed(emulated(m)) for m in MODELS])
    res = invoke("check", "--baseline", str(path))
    assert res.exit_code == 2 and named in res.stderr
    res = invoke("check", "--baseline", str(path), "--allow-mismatch", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["mismatches"] == [named]
    assert "WARNING" in res.stderr


def test_sample_count_is_not_a_mismatch():
    b = baseline_from_results("r0", [board(MODELS[0], n=30)])
    r = board(MODELS[0], n=50, seed=1)
    r = dataclasses.replace(r, settings=dataclasses.replace(r.settings, loops=50, warmup=9))
    assert check_run(b, [r]).mismatches == ()


# --- bad input ---------------------------------------------------------------------------------------------


def test_missing_and_malformed_baselines(data_dir):
    store_run([emulated(MODELS[0])])
    path = data_dir / "baseline.json"

    def refused(text: str | None) -> str:
        if text is not None:
            path.write_text(text)
        res = invoke("check", "--baseline", str(path), "--device", "imx6")
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
        return res.stderr.splitlines()[0]

    assert "does not exist" in refused(None) and "edgebench baseline save" in invoke(
        "check", "--baseline", str(path), "--device", "imx6").stderr
    assert "is not valid JSON (line 1, column 12" in refused('{"format": ')
    assert "is not an edgebench baseline" in refused('[1, 2]')
    assert "is not an edgebench baseline" in refused('{"models": []}')
    good = json.loads(save(data_dir).read_text())
    assert "schema version 99" in refused(json.dumps({**good, "schema_version": 99}))
    broken = json.loads(json.dumps(good))
    broken["models"][0]["samples_ms"] = "fast"
    assert "is malformed" in refused(json.dumps(broken)) and "samples_ms" in refused(json.dumps(broken))
    broken = json.loads(json.dumps(good))
    del broken["identity"]["device"]
    assert "is malformed" in refused(json.dumps(broken))
    broken = json.loads(json.dumps(good))
    broken["models"][0]["samples_ms"] = []
    assert "samples_ms must be" in refused(json.dumps(broken))
    broken = json.loads(json.dumps(good))
    broken["models"] = [broken["models"][0]] * 2
    assert "more than once" in refused(json.dumps(broken))
    broken = json.loads(json.dumps(good))
    broken["models"][0]["tolerance_pct"] = -1
    assert "tolerance_pct is -1" in refused(json.dumps(broken))


def test_empty_store_and_no_run_for_the_device(data_dir):
    b = baseline_from_results("r0", [emulated(MODELS[0])])
    path = data_dir / "baseline.json"
    save_baseline(b, path)
    res = invoke("check", "--baseline", str(path), "--device", "imx6")
    assert res.exit_code == 2 and "no results store" in res.stderr
    assert not (data_dir / "data" / "results.sqlite3").exists()  # checking never creates a store
    store_run([emulated(MODELS[0])], device="rpi4")
    res = invoke("check", "--baseline", str(path), "--device", "imx6")
    assert res.exit_code == 2 and "no runs stored for device imx6" in res.stderr
    res = invoke("baseline", "save", str(data_dir / "other.json"), "--device", "imx6")
    assert res.exit_code == 2 and "no runs stored for device imx6" in res.stderr
    res = invoke("baseline", "save", str(data_dir / "other.json"))
    assert res.exit_code == 2 and "give --device" in res.stderr


def test_bad_tolerance_values(data_dir):
    store_run([emulated(MODELS[0])])
    path = save(data_dir)
    for bad in ("abc", "-1", f"{MODELS[0]}=", "=3", "nan"):
        res = invoke("check", "--baseline", str(path), "--tolerance", bad)
        assert res.exit_code == 2 and "expected PCT or MODEL=PCT" in res.stderr, bad


# --- baseline file -----------------------------------------------------------------------------------------


def test_baseline_round_trip_and_contents(data_dir):
    results = [emulated(MODELS[0]), emulated(MODELS[1], modeled_ms=None)]
    store_run(results)
    path = save(data_dir, "--tolerance", f"{MODELS[1]}=7")
    data = json.loads(path.read_text())
    assert (data["format"], data["schema_version"]) == (FORMAT, SCHEMA_VERSION)
    assert data["identity"]["device"] == "imx6" and data["identity"]["ncnn_version"] == "1.0.20261020"
    assert data["identity"]["emulator"] == "qemu-arm -cpu cortex-a9 (7.2.0)"
    first, second = data["models"]
    assert first["counters"]["instructions"] == results[0].counters[2].instructions  # the middle iteration
    assert first["counter_iterations"] == 5 and first["modeled_ms"] == 120.0 and first["mflops"] == 140.0
    assert first["emulated"] and second["modeled_ms"] is None
    assert second["samples_ms"] == results[1].samples_ms and second["summary"]["n"] == 30
    assert (first["tolerance_pct"], second["tolerance_pct"]) == (None, 7.0)
    loaded = load_baseline(path)
    assert loaded.models[0].counters == median_counts(results[0].counters)
    save_baseline(loaded, data_dir / "again.json")
    assert (data_dir / "again.json").read_text() == path.read_text()  # exact round trip
    assert not list(data_dir.glob(".baseline.json.*"))  # no temp file left behind


def test_baseline_save_refuses_failed_or_mixed_runs(data_dir):
    with pytest.raises(EdgebenchError, match="failed; a failed result cannot be a baseline"):
        baseline_from_results("r0", [emulated(MODELS[0]), make_result("r0", MODELS[1], status="failed")])
    with pytest.raises(EdgebenchError, match="mixes results"):
        baseline_from_results("r0", [emulated(MODELS[0]), dataclasses.replace(emulated(MODELS[1]), runtime_key="x")])
    store_run([emulated(MODELS[0]), make_result("", MODELS[1], status="failed", emulated=True)])
    res = invoke("baseline", "save", str(data_dir / "b.json"), "--device", "imx6")
    assert res.exit_code == 2 and "cannot be a baseline" in res.stderr and "--model" in res.stderr
    res = invoke("baseline", "save", str(data_dir / "b.json"), "--device", "imx6", "--model", MODELS[0], "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["models"] == [MODELS[0]]
    res = invoke("baseline", "save", str(data_dir / "nowhere" / "b.json"), "--device", "imx6", "--model", MODELS[0])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_median_counts_takes_a_counted_value():
    counters = [_scaled(emulated(MODELS[0]).counters[0], s) for s in (1.0, 3.0, 2.0, 5.0)]
    assert median_counts(counters) == counters[2]  # lower middle of 1, 2, 3, 5: a real iteration's counts


# --- GitHub step summary -----------------------------------------------------------------------------------


def test_step_summary_gets_the_markdown(data_dir, monkeypatch):
    summary = data_dir / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    store_run([emulated(m) for m in MODELS])
    path = save(data_dir)
    store_run([emulated(MODELS[0], scale=1.05), emulated(MODELS[1]), emulated(MODELS[2])])
    assert invoke("check", "--baseline", str(path)).exit_code == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten
    assert "### ❌ edgebench check: REGRESSION: 2 of 3 ok, 1 regression" in text
    assert f"| {MODELS[0]} | **regression** | counters | ±1% | instructions" in text
    assert f"| {MODELS[1]} | ok | counters |" in text
    invoke("check", "--baseline", str(data_dir / "absent.json"))
    assert "### ⚠️ edgebench check could not check" in summary.read_text()
    assert "absent.json does not exist" in summary.read_text()


def test_markdown_warns_about_mismatch():
    b = baseline_from_results("r0", [emulated(MODELS[0])])
    report = check_run(b, [dataclasses.replace(emulated(MODELS[0]), ncnn_version="1.0.1")], allow_mismatch=True)
    md = to_markdown(report)
    assert "> **WARNING: compared despite a different setup" in md and "ncnn_version: 1.0.20261020 -> 1.0.1" in md


# --- the example workflow ----------------------------------------------------------------------------------


def test_example_workflow_commands_parse():
    """Every edgebench command in examples/ci/latency-check.yml is accepted by the CLI as it is today."""
    import shlex
    from pathlib import Path

    import click
    import yaml

    path = Path(__file__).parents[1] / "examples" / "ci" / "latency-check.yml"
    workflow = yaml.safe_load(path.read_text())
    steps = workflow["jobs"]["latency"]["steps"]
    lines = [ln.strip() for s in steps for ln in s.get("run", "").splitlines() if ln.strip().startswith("edgebench ")]
    assert {ln.split()[1] for ln in lines} >= {"run", "check", "baseline"}
    for line in lines:
        argv = shlex.split(line.split("||")[0].replace('"$BASELINE"', "ci/baseline.json"))[1:]
        command = main
        while isinstance(command, click.Group):
            name, *argv = argv
            command = command.commands[name]
        command.make_context(command.name, argv)  # raises on an unknown option or a bad value
