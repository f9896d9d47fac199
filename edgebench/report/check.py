"""A check report in words: one row per model, shared by the terminal table and the Markdown summary."""

from __future__ import annotations

from edgebench.report.markdown import markdown_table
from edgebench.results.check import CheckReport, Method, Outcome

HEADERS = ("Model", "Outcome", "Compared", "Threshold", "Figures", "Notes")


def check_rows(report: CheckReport) -> list[tuple[str, ...]]:
    rows = []
    for c in report.checks:
        threshold = "–" if c.limit_pct is None else (
            f"±{c.limit_pct:g}%" if c.method != Method.SIGNIFICANCE else f"{c.limit_pct:g}% and p<{report.settings.alpha:g}"
        )  # fmt: skip
        rows.append((c.model, c.outcome, c.method or "–", threshold, c.detail, "; ".join(c.notes) or "–"))
    return rows


def mismatch_warning(report: CheckReport) -> str | None:
    if not report.mismatches:
        return None
    return (f"WARNING: compared despite a different setup (--allow-mismatch): {'; '.join(report.mismatches)}. "
            "Differences may come from the setup, not the model.")


def header_lines(report: CheckReport) -> list[str]:
    """What was compared with what, and every mismatch that was let through."""
    lines = [
        f"Run {report.run_id} on {report.device} vs baseline {report.baseline_file or '(file)'} "
        f"(run {report.baseline_run}, saved {report.baseline_created})."
    ]
    if report.mismatches:
        lines.append(mismatch_warning(report))
    if report.not_in_baseline:
        lines.append(f"Not in the baseline, not checked: {', '.join(report.not_in_baseline)}.")
    return lines


def to_markdown(report: CheckReport) -> str:
    """The summary for a pull request or $GITHUB_STEP_SUMMARY."""
    icon = {0: "✅", 1: "❌", 2: "⚠️"}[report.exit_code]
    lines = [f"### {icon} edgebench check: {report.verdict}", ""]
    for line in header_lines(report):
        lines += [f"> **{line}**" if line == mismatch_warning(report) else line, ""]
    rows = [(m, f"**{o}**" if o != Outcome.OK else o, *rest) for m, o, *rest in check_rows(report)]
    lines += markdown_table(HEADERS, rows)
    lines += ["", "- Emulated targets: exact QEMU counts per iteration (and the modeled latency) within the "
                  "threshold. Real boards: a regression needs a significant Mann-Whitney U test on the raw samples "
                  "and a median shift beyond the minimum effect."]  # fmt: skip
    return "\n".join(lines) + "\n"
