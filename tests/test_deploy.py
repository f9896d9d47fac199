"""Deploy (only what changed, atomically) and the board lock, against a real sshd on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgebench.boards.deploy import deploy
from edgebench.boards.lock import LOCK_NAME, board_lock
from edgebench.boards.ssh import SSHTransport
from edgebench.boards.transport import CommandResult
from edgebench.errors import EdgebenchError


def make_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "models/shuffle net's (v1).param": (b"7767517\n" * 500, 0o644),
        "models/model;$(touch pwned).bin": (os.urandom(1 << 20), 0o644),
        "bin/edgebench-runner": (b"#!/bin/sh\necho runner \"$@\"\n", 0o755),
    }
    out = {}
    for name, (data, mode) in files.items():
        path = folder / name.replace("/", "__")
        path.write_bytes(data)
        os.chmod(path, mode)
        out[name] = path
    return out


def test_remote_names_must_stay_inside_the_remote_dir(tmp_path):
    local = tmp_path / "f"
    local.write_text("x")
    for bad in ("../escape", "/etc/passwd", "a/../../b", "", "a//b"):
        with pytest.raises(EdgebenchError, match="plain relative path"):
            deploy(None, {bad: local}, "/tmp/never-used")  # refused before any remote call


@pytest.mark.slow
def test_deploy_sends_only_changes_and_nothing_on_an_unchanged_rerun(sshd, tmp_path):
    files = make_files(tmp_path / "local")
    remote_dir = str(sshd.workdir / "fd mobilenet")
    total = sum(p.stat().st_size for p in files.values())
    with sshd.connect() as board:
        first = deploy(board, files, remote_dir)
        assert first.bytes_sent == total and first.files_sent == 3 and first.hash_check
        for name, path in files.items():
            remote = Path(remote_dir) / name
            assert hashlib.sha256(remote.read_bytes()).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
            assert remote.stat().st_mode & 0o777 == path.stat().st_mode & 0o777
        assert board.run([f"{remote_dir}/bin/edgebench-runner", "ok"], timeout=30).stdout == "runner ok\n"

        again = deploy(board, files, remote_dir)
        assert again.bytes_sent == 0 and again.files_sent == 0

        changed = "models/shuffle net's (v1).param"
        files[changed].write_bytes(b"7767517\nchanged\n")
        third = deploy(board, files, remote_dir)
        assert third.bytes_sent == files[changed].stat().st_size
        assert [f.name for f in third.files if f.sent] == [changed]
    leftovers = [p.name for p in Path(remote_dir).rglob("*") if ".tmp-" in p.name]
    assert leftovers == [] and not (Path(remote_dir) / "models" / "pwned").exists()
    assert not Path("pwned").exists()


@pytest.mark.slow
def test_a_half_uploaded_file_never_replaces_the_good_copy(sshd, tmp_path):
    """An upload that dies mid-way leaves the board's previous copy intact (temp name, then mv)."""
    files = make_files(tmp_path / "local")
    remote_dir = str(sshd.workdir / "m")

    class DiesDuringUpload:
        """The real SSH transport whose connection drops during the second put."""

        def __init__(self, inner: SSHTransport):
            self.inner, self.name, self.puts = inner, inner.name, 0

        def run(self, argv, timeout=None) -> CommandResult:
            return self.inner.run(argv, timeout)

        def put(self, local, remote):
            self.puts += 1
            if self.puts == 2:
                self.inner.close()
            self.inner.put(local, remote)

        def get(self, remote, local):
            self.inner.get(remote, local)

    with sshd.connect() as board:
        deploy(board, files, remote_dir)
    before = {n: (Path(remote_dir) / n).read_bytes() for n in files}
    for path in files.values():
        path.write_bytes(path.read_bytes() + b"new")
    with pytest.raises(EdgebenchError):
        deploy(DiesDuringUpload(sshd.connect()), files, remote_dir)
    assert {n: (Path(remote_dir) / n).read_bytes() for n in files} == before


@pytest.mark.slow
def test_board_without_sha256sum_gets_every_file_and_says_so(sshd, tmp_path):
    """A board whose PATH has the basic tools but no sha256sum (the sshd login is real, the PATH is cut)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("sh", "mkdir", "chmod", "mv", "cat", "env"):
        (tools / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                 text=True, check=True).stdout.strip())

    class NoSha256sum:
        def __init__(self, inner: SSHTransport):
            self.inner, self.name = inner, inner.name

        def run(self, argv, timeout=None) -> CommandResult:
            return self.inner.run(["env", f"PATH={tools}", *argv], timeout)

        def put(self, local, remote):
            self.inner.put(local, remote)

        def get(self, remote, local):
            self.inner.get(remote, local)

    files = make_files(tmp_path / "local")
    with sshd.connect() as inner:
        board = NoSha256sum(inner)
        assert board.run(["sh", "-c", "command -v sha256sum"], timeout=30).exit_status != 0
        for _ in range(2):
            summary = deploy(board, files, str(sshd.workdir / "m"))
            assert not summary.hash_check and "no sha256sum" in summary.note
            assert summary.bytes_sent == sum(p.stat().st_size for p in files.values())


# -- the lock ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_second_run_waits_for_the_lock_or_refuses_with_no_wait(sshd, tmp_path):
    files = make_files(tmp_path / "local")
    workdir = str(sshd.workdir)
    first_holds = threading.Event()
    first_may_finish = threading.Event()
    errors: list[BaseException] = []

    def first_run():
        try:
            with sshd.connect("run-1") as board, board_lock(board, workdir, purpose="run 1"):
                deploy(board, files, f"{workdir}/m")
                first_holds.set()
                first_may_finish.wait(60)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
            first_holds.set()

    thread = threading.Thread(target=first_run)
    thread.start()
    assert first_holds.wait(60) and not errors, errors
    with sshd.connect("run-2") as board:
        with pytest.raises(EdgebenchError, match=r"run-2 is busy: .* held by pid \d+ on .*\(run 1\)") as info:
            with board_lock(board, workdir, wait=False):
                pass
        assert "--no-wait" in info.value.hint

        told = []
        threading.Timer(3.0, first_may_finish.set).start()
        with board_lock(board, workdir, purpose="run 2", on_wait=told.append, poll_s=0.5) as lock:
            assert lock.waited_s >= 2.5
            assert len(told) == 1 and told[0].owner.purpose == "run 1"
            # a run timeout starts when the command is sent: the 3 s spent waiting do not count
            assert board.run(["sleep", "1"], timeout=2).ok
            summary = deploy(board, files, f"{workdir}/m")
            assert summary.bytes_sent == 0
            owner = json.loads((Path(workdir) / LOCK_NAME / "owner").read_text())
            assert owner["purpose"] == "run 2"
    thread.join(30)
    assert not errors, errors
    assert not (Path(workdir) / LOCK_NAME).exists()


@pytest.mark.slow
def test_lock_is_released_when_the_run_fails(sshd):
    with sshd.connect() as board:
        with pytest.raises(RuntimeError):
            with board_lock(board, str(sshd.workdir)):
                raise RuntimeError("runner crashed")
        assert not (sshd.workdir / LOCK_NAME).exists()
        with board_lock(board, str(sshd.workdir), wait=False):
            pass


def write_lock(workdir: Path, host: str, pid: int, age_s: float) -> None:
    lock = workdir / LOCK_NAME
    lock.mkdir()
    owner = lock / "owner"
    owner.write_text(json.dumps({"host": host, "pid": pid, "since_utc": "2026-01-01T00:00:00Z",
                                 "purpose": "old run", "token": "t"}) + "\n")
    mtime = time.time() - age_s
    os.utime(owner, (mtime, mtime))


@pytest.mark.slow
def test_stale_locks_are_detected_and_broken(sshd):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs on this machine
    workdir = sshd.workdir
    with sshd.connect() as board:
        write_lock(workdir, socket.gethostname(), dead.pid, age_s=0)
        with board_lock(board, str(workdir), wait=False) as lock:  # dead local holder: broken at once
            assert lock.owner.pid == os.getpid()

        write_lock(workdir, "other-host", 4242, age_s=3600)  # holder elsewhere, heartbeat stopped an hour ago
        with board_lock(board, str(workdir), wait=False, stale_after_s=180):
            pass

        lock = workdir / LOCK_NAME  # a holder that died between mkdir and writing its owner file
        lock.mkdir()
        os.utime(lock, (time.time() - 3600, time.time() - 3600))
        with board_lock(board, str(workdir), wait=False, stale_after_s=180):
            pass
        lock.mkdir()  # ... or is writing it right now: respected
        with pytest.raises(EdgebenchError, match="held by an unknown holder"):
            with board_lock(board, str(workdir), wait=False, stale_after_s=180):
                pass
        lock.rmdir()

        write_lock(workdir, "other-host", 4242, age_s=5)  # holder elsewhere, alive: respected
        with pytest.raises(EdgebenchError, match="busy"):
            with board_lock(board, str(workdir), wait=False, stale_after_s=180):
                pass


@pytest.mark.slow
def test_heartbeat_keeps_a_long_run_from_looking_stale(sshd):
    workdir = sshd.workdir
    with sshd.connect("long") as board, board_lock(board, str(workdir), heartbeat_s=0.5):
        owner = workdir / LOCK_NAME / "owner"
        os.utime(owner, (time.time() - 3600, time.time() - 3600))
        time.sleep(2.5)
        assert time.time() - owner.stat().st_mtime < 10
        with sshd.connect("other") as other, pytest.raises(EdgebenchError, match="busy"):
            with board_lock(other, str(workdir), wait=False, stale_after_s=60):
                pass
