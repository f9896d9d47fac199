"""The `edgebench` command. Each sub-command lives in its own module and registers itself on `main`."""

from __future__ import annotations

import sys

import click

from edgebench import __version__
from edgebench.errors import EdgebenchError


class _Group(click.Group):
    """Turns EdgebenchError into one clear line and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgebenchError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgebench")
def main() -> None:
    """Take a PyTorch model to NCNN on ARM boards (real or emulated) and bring back latency that holds up.

    \b
    Examples:
      edgebench models                       # the model zoo: counted MACs beside the papers' "MFLOPs"
      edgebench export fd_mobilenet          # torch -> ONNX -> NCNN, parity checked at every arrow
      edgebench artifacts                    # what is exported (yours too): MACs, params, parity, source
      edgebench build --arch armv7           # cross-build NCNN + the runner for a Cortex-A9
      edgebench run --device imx6            # the emulated i.MX6: export, build, deploy over SSH, run
    """


# Each sub-command module registers its commands on `main` when imported; they import their heavy
# dependencies (torch, matplotlib) inside the commands so that `edgebench --help` stays fast.
from edgebench.cli import (  # noqa: E402,F401
    artifacts_cmd, build_cmd, check_cmd, devices_cmd, export_cmd, models_cmd, reproduce_cmd, results_cmd, run_cmd,
)
