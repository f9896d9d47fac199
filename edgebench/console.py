"""The terminal: one rich console on stderr for progress and tables, stdout kept for --json output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

err = Console(stderr=True)
out = Console()


def progress(transient: bool = False) -> Progress:
    """A progress bar with the current stage as its text and elapsed time, shown on stderr."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=transient)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=True) + "\n")


def stdout_console() -> Console:
    """The terminal as it is; when piped, wide enough that ids and model names are never folded."""
    return out if out.is_terminal else Console(width=200, no_color=True)


@contextmanager
def model_progress(total: int) -> Iterator[tuple[Callable[[str], None], Callable[[], None]]]:
    """A bar over a run's models, its text the current stage; yields (show a stage, one model done)."""
    with progress() as bar:
        task = bar.add_task("starting", total=total)
        yield (lambda stage: bar.update(task, description=stage)), (lambda: bar.advance(task))
