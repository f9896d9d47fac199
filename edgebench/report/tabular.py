"""A report as JSON (everything, typed field names) or CSV (one flat row per model, or per paper claim)."""

from __future__ import annotations

import csv
import io
import json

from edgebench.report import cells
from edgebench.report.model import Report, constants_used
from edgebench.serde import to_dict
from edgebench.studies.fd_mobilenet import PAPER_NOTE

MODEL_CSV_COLUMNS = (
    "run_id", "model", "family", "device", "timed_on", "status", "n", "warmup", "min_ms", "median_ms",
    "ci_low_ms", "ci_high_ms", "mean_ms", "std_ms", "mad_ms", "p90_ms", "p99_ms", "modeled_ms", "modeled_low_ms",
    "modeled_high_ms", "modeled_level", "modeled_constants", "headline_basis", "headline_ms", "headline_low_ms",
    "headline_high_ms", "headline_level", "headline_cpu", "headline_clock_mhz", "macs_m", "first_inference_ms",
    "load_ms", "peak_rss_kb", "instructions_per_iter", "ncnn_cpu", "system_view", "flags", "wall_time_flags",
)  # fmt: skip
PAPER_CSV_COLUMNS = (
    "budget_macs_m", "fd_model", "other_model", "paper_speedup", "paper_source", "basis", "fd_ms", "other_ms",
    "our_speedup", "our_low", "our_high", "refits_low", "refits_high", "difference", "verdict", "why",
)  # fmt: skip


def to_json_data(report: Report) -> dict:
    # The constants themselves (hundreds of refits) stay in their file; the report names which it used.
    data = {"run": to_dict(report.run), "rows": to_dict(report.rows), "paper": to_dict(report.paper),
            "latency_constants": constants_used(report), "layers": to_dict(report.layers),
            "boards": to_dict(report.boards)}
    for row_json, row in zip(data["rows"], report.rows):
        row_json["timed_on"] = row.emulator or "board"
    data["devices"] = cells.device_lines(report)  # the full NcnnCpuInfo fields are in each row's ncnn_cpu
    data["notes"] = cells.footnotes(report)
    if report.paper is not None:
        data["paper"] = {"note": PAPER_NOTE, "notes": cells.paper_footnotes(), "comparisons": data["paper"]}
    return data


def to_json(report: Report) -> str:
    return json.dumps(to_json_data(report), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: Report) -> str:
    """Wall-time statistics (measured, or emulated where timed_on names an emulator), modeled ms and the
    headline (the figure the table leads with, with its basis, CPU and clock) apart."""
    rows = []
    for r in report.rows:
        s = r.summary
        stats = {
            "n": s.n, "min_ms": s.min, "median_ms": s.median, "ci_low_ms": s.ci_low, "ci_high_ms": s.ci_high,
            "mean_ms": s.mean, "std_ms": s.std, "mad_ms": s.mad, "p90_ms": s.p90, "p99_ms": s.p99,
        } if s else {}  # fmt: skip
        rows.append({
            "run_id": report.run.id, "model": r.model, "family": r.family, "device": r.device,
            "timed_on": r.emulator or "board", "status": r.status, "warmup": r.warmup, **stats,
            "modeled_ms": r.modeled_ms, **_modeled_interval(r), **_headline(r), "macs_m": r.macs_m,
            "first_inference_ms": r.first_inference_ms, "load_ms": r.load_ms, "peak_rss_kb": r.peak_rss_kb,
            "instructions_per_iter": r.instructions_per_iter, "ncnn_cpu": r.ncnn_cpu.describe() if r.ncnn_cpu else None,
            "system_view": r.system_view, "flags": "; ".join(r.flags), "wall_time_flags": "; ".join(r.wall_time_flags),
        })  # fmt: skip
    return _csv(MODEL_CSV_COLUMNS, rows)


def paper_to_csv(report: Report) -> str:
    rows = [
        {
            "budget_macs_m": c.claim.budget_mflops, "fd_model": c.claim.fd_model, "other_model": c.claim.other_model,
            "paper_speedup": c.claim.speedup, "paper_source": c.claim.source, "basis": c.basis, "fd_ms": c.fd_ms,
            "other_ms": c.other_ms, "our_speedup": c.ours, "our_low": c.ours_low, "our_high": c.ours_high,
            "refits_low": min((r.ours for r in c.refits), default=None),
            "refits_high": max((r.ours for r in c.refits), default=None), "difference": c.difference,
            "verdict": c.verdict.value if c.verdict else None, "why": c.why,
        }  # fmt: skip
        for c in report.paper or ()
    ]
    return _csv(PAPER_CSV_COLUMNS, rows)


def _modeled_interval(r) -> dict:
    m = r.modeled
    return {"modeled_low_ms": m.low_ms if m else None, "modeled_high_ms": m.high_ms if m else None,
            "modeled_level": m.level if m else None, "modeled_constants": r.modeled_constants}


def _headline(r) -> dict:
    h = r.headline
    return {f"headline_{k}": getattr(h, k) if h else None
            for k in ("basis", "ms", "low_ms", "high_ms", "level", "cpu", "clock_mhz")}


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()
