"""NCNN's C++ source: the pinned PyPI sdist, downloaded once, sha256-checked, unpacked into the cache."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import EdgebenchError
from edgebench.hashing import sha256_file
from edgebench.paths import cache_dir


@dataclass(frozen=True)
class NcnnSource:
    """One pinned NCNN release as published on PyPI."""

    version: str  # the Python package version, e.g. "1.0.20261020"
    url: str
    sha256: str

    @property
    def cmake_version(self) -> str:
        """What -DNCNN_VERSION takes (the date part); without it CMake stamps today's date."""
        return self.version.rsplit(".", 1)[-1]

    @property
    def archive_name(self) -> str:
        return f"ncnn-{self.version}.tar.gz"


PINNED = NcnnSource(
    version="1.0.20261020",
    url="https://files.pythonhosted.org/packages/b7/50/32b5172afe7d3e0dce410b7d8f4a5b7b84b942a0d69affbaedf669de52bc/"
    "ncnn-1.0.20261020.tar.gz",
    sha256="ad8cdd63e9755cfa8e23b9b6d9ce46156077d80298a89e7c3ba325ffccfca200",
)


def verify_archive(path: Path, source: NcnnSource = PINNED) -> None:
    """Refuse an archive whose sha256 is not the pinned one, naming both hashes."""
    actual = sha256_file(path)
    if actual != source.sha256:
        raise EdgebenchError(
            f"{path.name}: sha256 {actual} does not match the pinned {source.sha256}; refusing to build from it",
            hint=f"delete {path} to download it again from {source.url}",
        )


def fetch_archive(source: NcnnSource = PINNED) -> Path:
    """The verified sdist in the cache, downloading it first if it is not there."""
    dest = cache_dir() / "sources" / source.archive_name
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source.url, timeout=60) as resp:
                shutil.copyfileobj(resp, out)
            verify_archive(Path(tmp_name), source)  # check before it gets the final name
            os.replace(tmp_name, dest)
        except (urllib.error.URLError, OSError) as exc:
            raise EdgebenchError(f"could not download {source.url}: {exc}",
                                 hint=f"put a copy of {source.archive_name} at {dest}") from exc
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
    verify_archive(dest, source)
    return dest


def source_tree(source: NcnnSource = PINNED) -> Path:
    """The unpacked source tree (the folder holding NCNN's top CMakeLists.txt), unpacking it once."""
    root = cache_dir() / "sources" / f"ncnn-{source.version}"
    if (root / "CMakeLists.txt").exists():
        return root
    archive = fetch_archive(source)
    staging = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        (top,) = [p for p in staging.iterdir() if p.is_dir()]
        try:
            os.rename(top, root)  # atomic: a half-unpacked tree never carries the final name
        except OSError:
            if not (root / "CMakeLists.txt").exists():  # not just another process winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
