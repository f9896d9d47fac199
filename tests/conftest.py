"""Shared pytest fixtures.

`sshd`: a real OpenSSH server (/usr/sbin/sshd) on 127.0.0.1 with freshly generated host and client keys, its
host key pinned in a private known_hosts, and a folder that plays the board's workdir. Started per test, torn
down after. Tests using it are slow (mark them `@pytest.mark.slow`).

`shared_cache`: the one folder for expensive builds (NCNN runtimes, the QEMU plugin, self-test programs)
shared by every test of the session: EDGEBENCH_TEST_CACHE when set (CI sets it; keep one to share builds
between runs), else one session tmp dir. `build_cache` also points EDGEBENCH_CACHE at it for the session.

`read_only_folder`: a folder that becomes truly read-only on `seal()`, for root too (a tmpfs remounted ro;
chmod when not root).

`edgebench_dirs`: points EDGEBENCH_DATA / EDGEBENCH_CACHE at the test's tmp dir (and XDG_CONFIG_HOME, so a
developer's own ~/.config/edgebench/devices.yaml never leaks into a test).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgebench.boards.devices import Connection
from edgebench.boards.sshd import ServerInfo, SshServer
from edgebench.boards.ssh import SSHTransport


@dataclass
class SshdHandle:
    server: SshServer
    info: ServerInfo
    workdir: Path  # an empty folder on the "board" for the test to use

    @property
    def connection(self) -> Connection:
        return self.server.connection(self.info)

    def connect(self, name: str = "test-sshd") -> SSHTransport:
        return SSHTransport.connect(self.connection, name=name)

    def restart(self, new_host_key: bool = False) -> None:
        """Stop and start on the same port; with new_host_key the server comes back with another identity
        (known_hosts is left as it was, so clients see a changed key)."""
        self.server.stop()
        if new_host_key:
            self.server.host_key.unlink()
            self.server.host_key.with_suffix(".pub").unlink()
        self.info = self.server.start(port=self.info.port)


@pytest.fixture
def edgebench_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def sshd(tmp_path: Path):
    server = SshServer(tmp_path / "sshd")
    info = server.start()
    server.pin(info.port)
    workdir = tmp_path / "board"
    workdir.mkdir()
    handle = SshdHandle(server=server, info=info, workdir=workdir)
    try:
        yield handle
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    env = os.environ.get("EDGEBENCH_TEST_CACHE")
    return Path(env) if env else tmp_path_factory.getbasetemp() / "shared-cache"


@pytest.fixture(scope="session")
def build_cache(shared_cache):
    patch = pytest.MonkeyPatch()
    patch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    yield shared_cache
    patch.undo()


@dataclass
class ReadOnlyFolder:
    path: Path
    mounted: bool  # a tmpfs of its own (root): sealing remounts it read-only

    def seal(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)
            return
        for p in [*self.path.rglob("*"), self.path]:
            p.chmod(0o555 if p.is_dir() else 0o444)


@pytest.fixture
def read_only_folder(tmp_path: Path):
    path = tmp_path / "read-only"
    path.mkdir()
    root = os.geteuid() == 0
    mounted = root and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
                                      capture_output=True).returncode == 0
    if root and not mounted:
        pytest.skip("root without mount(8): no folder is read-only for root")
    try:
        yield ReadOnlyFolder(path, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)
        else:
            for p in [path, *path.rglob("*")]:
                p.chmod(0o755)
