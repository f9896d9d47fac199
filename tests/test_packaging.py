"""The wheel, installed the way a user installs it (not editable): a packaging gap fails here, not on a user's
machine. Every module and data file of the four top-level folders must reach the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"edgebench": "edgebench", "models": "edgebench/models", "export": "edgebench/export",
         "ncnn_tools": "edgebench/ncnn_tools"}

pytestmark = pytest.mark.slow


def _source_files() -> list[str]:
    """The files a checkout has (tracked, or new and not ignored): what a release would be built from."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], capture_output=True,
                            text=True, cwd=REPO, check=True).stdout.split("\n")
    return [f for f in listed if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    tree, out = tmp_path_factory.mktemp("tree"), tmp_path_factory.mktemp("wheel")
    for rel in _source_files():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tree / rel, follow_symlinks=False)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(tree)], check=True, capture_output=True, cwd=out)
    (built,) = out.glob("edgebench-*.whl")
    return built


def test_every_source_file_reaches_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = []
    for path in _source_files():
        top, _, rest = path.partition("/")
        if top not in ROOTS or not rest:
            continue
        if top == "edgebench" and rest.startswith(("models/", "export/", "ncnn_tools/")):
            continue  # no such folders inside edgebench/: they come from the top level
        installed = f"{ROOTS[top]}/{rest}"
        if installed not in names:
            missing.append(path)
    assert not missing, f"not in the wheel: {missing}"


def test_the_installed_wheel_runs_its_cli(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)  # torch & co. from this interpreter
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True)
    where = subprocess.run([str(python), "-c", "import edgebench.report, edgebench.boards.sysview; print(edgebench.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert where.startswith(str(env_dir)), f"imported {where}, not the installed wheel"
    cli = env_dir / "bin" / "edgebench"
    for argv in (["--help"], ["devices", "--help"], ["models"]):
        done = subprocess.run([str(cli), *argv], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, (argv, done.stderr[-1500:])
    assert "fd_mobilenet_1.0x" in done.stdout
