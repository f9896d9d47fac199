"""Debian packages of another architecture, fetched with the host's own apt but a private state folder.

The host's sources and archive keys are used as they are (signatures checked as for any apt-get); the package
lists, the dpkg status and the download cache live under one folder in the edgebench cache, so no
`dpkg --add-architecture` is needed and the host's apt state is never touched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import EdgebenchError
from edgebench.paths import ensure_dir

_APT_HINT = "the system images are built from Debian packages: check the apt sources in /etc/apt (and the network)"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    depends: str  # the Depends field as apt shows it ("" when none)


class DebianArchive:
    """apt-get/apt-cache for one Debian architecture (armhf, arm64), state kept under `root`."""

    def __init__(self, root: Path, arch: str):
        self.root = Path(root)
        self.arch = arch

    def _options(self) -> list[str]:
        state = self.root
        return ["-q", "-o", f"APT::Architecture={self.arch}", "-o", f"APT::Architectures::={self.arch}",
                "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::State::status={state / 'status'}",
                "-o", f"Dir::Cache={state / 'cache'}", "-o", "Debug::NoLocking=1",
                # apt's sandbox user cannot write into a root-owned cache folder; the downloads are still verified
                "-o", "APT::Sandbox::User=root"]

    def _apt(self, tool: str, args: list[str], cwd: Path | None = None) -> str:
        exe = shutil.which(tool)
        if exe is None:
            raise EdgebenchError(f"{tool} not found: the system images are built from Debian packages",
                                 hint="build them on a Debian or Ubuntu host")
        done = subprocess.run([exe, *self._options(), *args], capture_output=True, text=True, cwd=cwd)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise EdgebenchError(f"{tool} {' '.join(args[:2])} ({self.arch}) failed: {last}", hint=_APT_HINT)
        return done.stdout

    @property
    def has_lists(self) -> bool:
        return any((self.root / "lists").glob("*_Packages*"))

    def update(self) -> None:
        """Fetch the package lists of this architecture (a few seconds; the host's lists stay as they were)."""
        for sub in ("lists/partial", "cache/archives/partial"):
            ensure_dir(self.root / sub, "the private apt folder", "point EDGEBENCH_CACHE at a writable folder")
        (self.root / "status").touch()
        self._apt("apt-get", ["update"])

    def candidates(self, names: list[str]) -> list[Package]:
        """The versions apt would install now, with their dependencies, in the order asked (one apt-cache
        call: each reads every package list)."""
        text = self._apt("apt-cache", ["show", "--no-all-versions", *names])
        found = {}
        for stanza in text.split("\n\n"):
            fields = dict(re.findall(r"^(Package|Version|Depends): (.*)$", stanza, flags=re.M))
            if "Package" in fields and "Version" in fields:
                found.setdefault(fields["Package"], Package(fields["Package"], fields["Version"],
                                                            fields.get("Depends", "")))
        missing = [n for n in names if n not in found]
        if missing:
            raise EdgebenchError(f"Debian package {missing[0]} ({self.arch}) not found in the package lists",
                                 hint="edgebench target image NAME --refresh fetches the lists again")
        return [found[n] for n in names]

    def download(self, packages: list[Package], dest: Path) -> list[Path]:
        """The .deb files of exactly these versions, downloaded into `dest` (signatures checked by apt)."""
        self._apt("apt-get", ["download", *(f"{p.name}:{self.arch}={p.version}" for p in packages)], cwd=dest)
        debs = []
        for p in packages:
            found = sorted(dest.glob(f"{p.name}_*_{self.arch}.deb")) or sorted(dest.glob(f"{p.name}_*_all.deb"))
            if not found:
                raise EdgebenchError(f"apt-get download left no .deb for {p.name} {p.version}", hint=_APT_HINT)
            debs.append(found[0])
        return debs


def extract(deb: Path, into: Path) -> None:
    """Unpack a .deb's files (dpkg-deb -x: no maintainer scripts, nothing run)."""
    done = subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], capture_output=True, text=True)
    if done.returncode != 0:
        raise EdgebenchError(f"dpkg-deb -x {deb.name} failed: {done.stderr.strip()}",
                             hint="sudo apt-get install dpkg")
