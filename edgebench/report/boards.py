"""Several boards of one kind in one run (a run spread over a labgrid farm): what each board's state says,
where the boards disagree, and the spread between them on the models that ran on more than one.

Figures from boards of one kind compare only when their board state agrees (kernel, governor, clock, and on
emulated boards the system view the guest saw): a disagreement is named, per field, and any model run on
several boards (the spread run's anchor) gives each board's median and the spread max/min − 1 between them,
of the figure that means something there: the modeled latency on emulated boards (from their exact counts:
boards that count alike agree exactly), else the measured wall time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgebench.results.result import Basis, RunResult, Status
from edgebench.results.stats import median


@dataclass(frozen=True)
class BoardSide:
    """One board as its ok results saw it; a field holds every value seen there, in order (one, normally)."""

    name: str
    results: int
    kernel: tuple[str, ...]
    governor: tuple[str, ...]
    clock_mhz: tuple[str, ...]  # the used CPUs' clocks before each run, "?" where sysfs did not say
    view: tuple[str, ...]  # emulated: the system view the guest saw ("–" on a real board)


@dataclass(frozen=True)
class ModelSpread:
    """One model run on several boards: each board's median (`basis` says of what) and the spread."""

    model: str
    basis: Basis
    median_ms: tuple[tuple[str, float], ...]  # (board, median), in the boards' order

    @property
    def spread(self) -> float:
        """Slowest over fastest board, minus 1 (0.03: the slowest took 3 % longer)."""
        figures = [ms for _, ms in self.median_ms]
        return max(figures) / min(figures) - 1


@dataclass(frozen=True)
class BoardComparison:
    boards: tuple[BoardSide, ...]
    disagreements: tuple[str, ...]  # one line per board-state field whose values differ between boards
    spreads: tuple[ModelSpread, ...]


def compare_boards(results: list[RunResult],
                   modeled_ms: Sequence[float | None] | None = None) -> BoardComparison | None:
    """The comparison of a run's boards; None unless its results name two boards or more. `modeled_ms`: each
    result's modeled figure as the report shows it (re-modeled with the installed constants), default the
    stored one."""
    names = sorted({r.board_name for r in results if r.board_name is not None})
    if len(names) < 2:
        return None
    figures = list(modeled_ms) if modeled_ms is not None else [r.modeled_ms for r in results]
    ok = [(r, f) for r, f in zip(results, figures) if r.status == Status.OK and r.board_name is not None]
    sides = tuple(_side(name, [r for r, _ in ok if r.board_name == name]) for name in names)
    disagreements = tuple(line for field in _LABELS if (line := _disagreement(field, sides)) is not None)
    spreads = []
    for model in dict.fromkeys(r.model for r, _ in ok):
        on = sorted(((r, f) for r, f in ok if r.model == model and r.samples_ms), key=lambda rf: rf[0].board_name)
        if len(on) > 1:
            spreads.append(_spread(model, on))
    return BoardComparison(sides, disagreements, tuple(spreads))


def _spread(model: str, on: list[tuple[RunResult, float | None]]) -> ModelSpread:
    if all(f is not None for _, f in on):
        return ModelSpread(model, Basis.MODELED, tuple((r.board_name, f) for r, f in on))
    return ModelSpread(model, Basis.of_wall_time(on[0][0].board.emulated),
                       tuple((r.board_name, median(r.samples_ms)) for r, _ in on))


def _side(name: str, results: list[RunResult]) -> BoardSide:
    def seen(values) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values))

    return BoardSide(name=name, results=len(results), kernel=seen(r.board.uname for r in results),
                     governor=seen(r.board.governor or "?" for r in results),
                     clock_mhz=seen(_clock(r) for r in results),
                     view=seen(r.board.system_view or "–" for r in results))


def _clock(result: RunResult) -> str:
    clocks = [c.freq_khz_before for c in result.board.cpu_clocks] or [result.board.freq_khz_before]
    return "/".join(f"{khz / 1000:g}" if khz else "?" for khz in dict.fromkeys(clocks))


_LABELS = {"kernel": "kernel", "governor": "governor", "clock_mhz": "clock (MHz)", "view": "system view"}


def _disagreement(field: str, sides: tuple[BoardSide, ...]) -> str | None:
    values = {s.name: getattr(s, field) for s in sides if s.results}
    if len(set(values.values())) < 2:
        return None
    seen = "; ".join(f"{name} {' | '.join(v)}" for name, v in values.items())
    return f"the boards' {_LABELS[field]} differ: {seen}: their figures do not compare"


# -- as tables (terminal and Markdown) ------------------------------------------------------------------------
BOARD_HEADERS = ("Board", "Results", "Kernel", "Governor", "Clock MHz", "System view")
SPREAD_HEADERS = ("Model", "Median of", "Per board", "Spread")
SPREAD_NOTE = "Spread: the slowest board's median over the fastest's, minus 1."


def board_cells(b: BoardSide) -> tuple[str, ...]:
    return (b.name, str(b.results), *(" | ".join(v) or "–" for v in (b.kernel, b.governor, b.clock_mhz, b.view)))


def board_notes(c: BoardComparison) -> list[str]:
    return list(c.disagreements) or ["The boards' state agrees (kernel, governor, clock, system view)."]


def spread_cells(s: ModelSpread) -> tuple[str, ...]:
    return (s.model, str(s.basis), ", ".join(f"{b} {ms:.1f} ms" for b, ms in s.median_ms), f"{s.spread:.1%}")
