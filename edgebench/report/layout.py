"""Every terminal table of edgebench laid out to the terminal's width: one policy for all of them.

A table keeps the columns that fit, dropping the least important first, and names what it left out; text
that belongs to a row but runs long (flags, a verdict's reasons) is wrapped on lines under that row, never
squeezed into a column. Only when even the essential columns do not fit is a cell cut, with "…" and a line
saying which column was cut. `wide` keeps every column whole (for files and wide terminals).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

GAP = "  "
ELLIPSIS = "…"
MIN_CUT_WIDTH = 8  # a cut cell keeps at least this many characters


@dataclass(frozen=True)
class Column:
    header: str
    priority: int = 0  # 0: always shown; the highest is dropped first when the table does not fit
    numeric: bool = False  # right-aligned


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    notes: tuple[str, ...] = ()  # wrapped under the row, one paragraph each
    style: str | None = None
    note_style: str | None = "yellow"


@dataclass(frozen=True)
class Layout:
    """What was shown: the lines, the columns left out, the columns whose cells were cut."""

    lines: list[Text]
    hidden: tuple[str, ...]
    cut: tuple[str, ...]
    notices: list[str] = field(default_factory=list)  # the lines that name `hidden` and `cut`


def fit(columns: tuple[Column, ...], rows: list[Row], width: int, *, wide: bool = False,
        wide_hint: str = "--wide shows every column") -> Layout:
    widths = [max([cell_len(c.header)] + [cell_len(r.cells[i]) for r in rows]) for i, c in enumerate(columns)]
    shown = list(range(len(columns)))
    if not wide:
        # Drop the least important (the rightmost of equal importance) until the rest fits.
        while _total(widths, shown) > width:
            droppable = [i for i in shown if columns[i].priority > 0]
            if not droppable:
                break
            shown.remove(max(droppable, key=lambda i: (columns[i].priority, i)))
    cut: list[int] = []
    if not wide and _total(widths, shown) > width:
        # Only essential columns are left: cut the widest text column, never a number.
        for i in sorted((i for i in shown if not columns[i].numeric), key=lambda i: -widths[i]):
            excess = _total(widths, shown) - width
            if excess <= 0:
                break
            new = max(MIN_CUT_WIDTH, cell_len(columns[i].header), widths[i] - excess)
            if new < widths[i]:
                widths[i] = new
                cut.append(i)
    lines = [_line([columns[i].header for i in shown], [widths[i] for i in shown],
                   [columns[i].numeric for i in shown], "bold"),
             Text("─" * min(_total(widths, shown), width if not wide else 10**6))]
    note_width = max(20, (width if not wide else max(width, _total(widths, shown))) - 4)
    for row in rows:
        lines.append(_line([row.cells[i] for i in shown], [widths[i] for i in shown],
                           [columns[i].numeric for i in shown], row.style))
        for note in row.notes:
            for part in textwrap.wrap(note, note_width, break_on_hyphens=False) or [""]:
                lines.append(Text("    " + part, style=row.note_style or ""))
    hidden = tuple(columns[i].header for i in range(len(columns)) if i not in shown)
    notices = []
    if hidden:
        notices.append(f"Not shown at {width} columns: {', '.join(hidden)} ({wide_hint}).")
    if cut:
        notices.append(f"{ELLIPSIS} marks {', '.join(columns[i].header for i in cut)} cut to fit {width} columns "
                       f"({wide_hint} whole).")
    return Layout(lines, hidden, tuple(columns[i].header for i in cut), notices)


def print_table(console: Console, columns: tuple[Column, ...], rows: list[Row], *, title: str | None = None,
                notes: list[str] = (), wide: bool = False, wide_hint: str = "--wide shows every column") -> Layout:
    """Print a table fitted to `console`'s width, its title above and its notes (wrapped) below."""
    layout = fit(columns, rows, console.width, wide=wide, wide_hint=wide_hint)
    if title:
        console.print(Text(title, style="bold"))
    for line in layout.lines:
        console.print(line, soft_wrap=wide, overflow="ignore" if wide else "fold", no_wrap=wide, crop=not wide)
    for note in [*layout.notices, *notes]:
        console.print(note, highlight=False, markup=False)
    return layout


def _total(widths: list[int], shown: list[int]) -> int:
    return sum(widths[i] for i in shown) + len(GAP) * max(0, len(shown) - 1)


def _line(cells: list[str], widths: list[int], numeric: list[bool], style: str | None) -> Text:
    parts = []
    for text, w, right in zip(cells, widths, numeric):
        if cell_len(text) > w:
            text = _cut(text, w)
        pad = " " * (w - cell_len(text))
        parts.append(pad + text if right else text + pad)
    return Text(GAP.join(parts).rstrip(), style=style or "")


def _cut(text: str, width: int) -> str:
    while cell_len(text) > width - 1:
        text = text[:-1]
    return text + ELLIPSIS
