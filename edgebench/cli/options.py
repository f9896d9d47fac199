"""Options several commands share, declared once."""

from __future__ import annotations

from pathlib import Path

import click

DEVICES_OPTION = click.option(
    "--devices", "devices_file", type=click.Path(dir_okay=False, path_type=Path),
    help="A devices.yaml that takes precedence over ./devices.yaml, ~/.config/edgebench/devices.yaml and the "
         "packaged default.")  # fmt: skip

COORDINATOR_OPTION = click.option(
    "--coordinator", metavar="HOST:PORT",
    help="The labgrid coordinator of a labgrid device (wins over its entry's labgrid.coordinator and LG_COORDINATOR).")

ARTIFACTS_OPTION = click.option(
    "--artifacts", "artifacts_root", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts"),
    show_default=True, help="Where zoo models are exported to and looked up.")  # fmt: skip


def selected_models(models: tuple[str, ...] | list[str], suite: str | None) -> list[str]:
    """The models named, then the suite's (--model, --suite), each once and in that order. The zoo (which
    imports torch) is imported only when a suite is asked for."""
    names = list(models)
    if suite:
        from edgebench.models.registry import suite as suite_models

        names += suite_models(suite)
    return list(dict.fromkeys(names))
