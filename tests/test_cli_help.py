"""Every command's --help has examples, and each example's command line is accepted by the command as
written: click parses it (options, choices, argument counts) and the devices and zoo models it names exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

import edgebench
from edgebench.boards.devices import load_devices
from edgebench.cli import main


def _commands(cmd: click.Command, path: tuple[str, ...] = ("edgebench",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(main))


def examples(cmd: click.Command) -> list[str]:
    """The `edgebench ...` lines of a help text's Example(s) block, without their trailing comments."""
    lines, inside = [], False
    for line in (cmd.help or "").splitlines():
        if line.strip() in ("Examples:", "Example:"):
            inside = True
        elif inside and line.strip().startswith("edgebench "):
            lines.append(re.split(r"\s+#\s", line.strip())[0])
        elif inside and line.strip() and not line.startswith(" "):
            inside = False
    return lines


def parse(argv: list[str]) -> click.Context:
    """Parse as `edgebench` would, down to the leaf command; a bad option or choice raises UsageError."""
    cmd, name, args, parent = main, "edgebench", argv[1:], None
    while True:
        ctx = cmd.make_context(name, list(args), parent=parent)
        rest = [*ctx._protected_args, *ctx.args] if isinstance(cmd, click.Group) else []
        if not rest:
            return ctx
        name, cmd, args = cmd.resolve_command(ctx, rest)
        parent = ctx


def _known_devices() -> set[str]:
    """The packaged devices and the real-board entries devices.yaml documents (commented, to adapt)."""
    packaged = Path(edgebench.__file__).parent / "devices.yaml"
    documented = set(re.findall(r"^# ([\w-]+):", packaged.read_text(), re.MULTILINE))
    return set(load_devices(packaged)) | documented


ALL_EXAMPLES = [(" ".join(path), line) for path, cmd in COMMANDS.items() for line in examples(cmd)]


@pytest.mark.parametrize("path", [" ".join(p) for p in COMMANDS])
def test_every_command_has_an_example(path):
    assert examples(COMMANDS[tuple(path.split())]), f"`{path} --help` has no example"


@pytest.mark.parametrize("path,line", ALL_EXAMPLES)
def test_each_example_parses_as_written(path, line):
    argv = shlex.split(line)
    if "$(" in line:  # a shell example: only its edgebench part is ours
        argv = shlex.split(line.split("$(")[1].split(")")[0])
    if path != "edgebench":  # a command's examples run that command (or one of its sub-commands)
        assert argv[:len(path.split())] == path.split(), line
    ctx = parse(argv)
    params = ctx.params
    device = params.get("device_name") or params.get("device") or params.get("name")
    if device and ctx.command.name in ("run", "reproduce", "report", "check", "save", "up", "down", "status",
                                       "trust"):
        assert device in _known_devices(), f"{line}: no device {device!r} in the packaged devices.yaml"


def test_zoo_models_in_examples_exist():
    from edgebench.models.registry import resolve

    for _, line in ALL_EXAMPLES:
        ctx = parse(shlex.split(line.split("$(")[-1].split(")")[0]))
        names = list(ctx.params.get("models") or ())
        if ctx.command.name == "export":
            names += [t for t in ctx.params["targets"] if ":" not in t and not t.endswith(".onnx")]
        for name in names:
            resolve(name)  # raises, naming the closest zoo names, for a model that does not exist


def test_the_cli_loads_no_ssh_stack_until_a_board_is_reached():
    """`edgebench --help` and every command's parsing stay fast: paramiko (a third of a second) and torch load
    only where a command reaches a board or exports, labgrid (gRPC) only for a labgrid place."""
    import subprocess
    import sys

    code = "import sys, edgebench.cli; print(sorted(m for m in ('paramiko', 'torch', 'labgrid', 'grpc') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
