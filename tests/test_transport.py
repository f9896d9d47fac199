"""The SSH transport against a real OpenSSH server on 127.0.0.1 (the `sshd` fixture in conftest.py).

A real board cannot exist here; the local sshd stands in for one: same protocol, same login shell, same
host-key checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.boards.devices import Connection
from edgebench.boards.ssh import SSHTransport, remote_command
from edgebench.boards.transport import CommandTimeout, ConnectionLost
from edgebench.cli import main
from edgebench.errors import EdgebenchError

HOSTILE = ["a b", "it's", '"dq"', "semi; touch {pwn}", "$(touch {pwn})", "`touch {pwn}`", "*", "\\", "-n",
           "line\nbreak", "&& touch {pwn} ||", "|tee {pwn}", "$HOME", "", "  "]


def hostile_args(pwn: Path) -> list[str]:
    return [a.format(pwn=pwn) for a in HOSTILE]


def ssh_keygen_fingerprint(pub: Path) -> str:
    """OpenSSH's own fingerprint of a public key, to check ours against."""
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


def test_remote_command_reaches_a_posix_shell_as_literal_argv(tmp_path):
    """The exact string sent over SSH, given to a local sh (what sshd does with it): nothing runs."""
    pwn = tmp_path / "pwned"
    args = hostile_args(pwn)
    done = subprocess.run(["sh", "-c", remote_command(["printf", "%s\\0", *args])], capture_output=True)
    assert done.returncode == 0
    assert done.stdout.split(b"\0")[:-1] == [a.encode() for a in args]
    assert not pwn.exists()


def test_remote_command_refuses_empty_argv():
    with pytest.raises(EdgebenchError, match="empty command"):
        remote_command([])


@pytest.mark.slow
def test_hostile_arguments_arrive_literally_and_run_nothing(sshd, tmp_path):
    pwn = tmp_path / "pwned"
    args = hostile_args(pwn)
    with sshd.connect() as board:
        result = board.run(["printf", "%s\\0", *args], timeout=30)
        assert result.ok, result
        assert result.stdout.split("\0")[:-1] == args
        # and as a program name: a file whose name is shell syntax is looked up, not interpreted
        odd = board.run([f"no such; touch {pwn}"], timeout=30)
        assert odd.exit_status == 127 and "command not found" in odd.describe()
    assert not pwn.exists()


@pytest.mark.slow
def test_exit_status_streams_and_wrapper_markers(sshd):
    with sshd.connect() as board:
        result = board.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
        assert (result.stdout, result.stderr, result.exit_status, result.signal) == ("out\n", "err\n", 3, None)
        assert "edgebench-" not in result.stderr  # the wrapper's pid/signal lines are stripped
        with pytest.raises(EdgebenchError, match=r"exit status 3: err"):
            result.check()
        assert board.run(["true"], timeout=30).check().ok


def test_stderr_lines_are_relayed_while_the_command_runs(sshd):
    """Progress must reach the user during a long run, not after it: each line is handed on as it arrives."""
    seen: list[tuple[str, float]] = []
    with sshd.connect() as board:
        start = time.monotonic()
        result = board.run(["sh", "-c", "echo one >&2; sleep 2; printf 'two\\nthr' >&2; echo ee >&2"], timeout=30,
                           on_stderr_line=lambda line: seen.append((line, time.monotonic() - start)))
    assert [line for line, _ in seen] == ["one", "two", "three"]  # whole lines, split or joined as they came
    assert seen[0][1] < result.duration_s - 1.0  # "one" was relayed before the command ended
    assert result.stderr == "one\ntwo\nthree\n"  # and still kept, without the wrapper's marker


@pytest.mark.slow
def test_death_by_signal_is_reported_by_name(sshd):
    with sshd.connect() as board:
        ill = board.run(["sh", "-c", "kill -ILL $$"], timeout=30)
        assert ill.exit_status is None and ill.signal == 4 and ill.signal_name == "SIGILL"
        assert "killed by SIGILL (VFPv4/NEON mismatch?" in ill.describe()
        with pytest.raises(EdgebenchError, match="SIGILL"):
            ill.check("runner")
        segv = board.run(["sh", "-c", "kill -SEGV $$"], timeout=30)
        assert segv.signal_name == "SIGSEGV"
        # a program that exits with a plain status is not mistaken for a signal
        assert board.run(["sh", "-c", "exit 120"], timeout=30).signal is None


@pytest.mark.slow
def test_timeout_kills_the_remote_process(sshd, tmp_path):
    pidfile = tmp_path / "pid"
    with sshd.connect() as board:
        start = time.monotonic()
        with pytest.raises(CommandTimeout, match="still running after 1 s"):
            board.run(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 120"], timeout=1)
        assert time.monotonic() - start < 15
        pid = int(pidfile.read_text())
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            assert time.monotonic() < deadline, "remote sleep survived the timeout"
            time.sleep(0.1)
        assert board.run(["true"], timeout=30).ok  # the connection is still usable


@pytest.mark.slow
def test_put_get_roundtrip_with_an_awkward_name(sshd, tmp_path):
    data = os.urandom(3 << 20) + b"\0tail"
    local = tmp_path / "in.bin"
    local.write_bytes(data)
    remote = str(sshd.workdir / "model $(x) 'q' a;b.bin")
    with sshd.connect() as board:
        board.put(local, remote)
        assert hashlib.sha256(Path(remote).read_bytes()).digest() == hashlib.sha256(data).digest()
        back = tmp_path / "back.bin"
        board.get(remote, back)
        assert back.read_bytes() == data
        with pytest.raises(EdgebenchError, match="cannot download"):
            board.get(str(sshd.workdir / "missing"), tmp_path / "x")


@pytest.mark.slow
def test_unknown_host_key_is_refused_with_fingerprint_and_trust_command(sshd):
    sshd.server.known_hosts.unlink()
    with pytest.raises(EdgebenchError) as info:
        sshd.connect(name="lab-board")
    expected = ssh_keygen_fingerprint(sshd.server.host_key.with_suffix(".pub"))
    assert "not in" in info.value.message and expected in info.value.message
    assert "edgebench devices trust lab-board" in info.value.hint
    assert f"ssh-keyscan -p {sshd.info.port} -t ssh-ed25519 127.0.0.1" in info.value.hint


@pytest.mark.slow
def test_changed_host_key_is_refused(sshd):
    old = ssh_keygen_fingerprint(sshd.server.host_key.with_suffix(".pub"))
    sshd.restart(new_host_key=True)
    new = ssh_keygen_fingerprint(sshd.server.host_key.with_suffix(".pub"))
    assert old != new
    with pytest.raises(EdgebenchError) as info:
        sshd.connect(name="lab-board")
    assert "CHANGED" in info.value.message and old in info.value.message and new in info.value.message
    assert "edgebench devices trust lab-board --replace" in info.value.hint


@pytest.mark.slow
def test_wrong_client_key_is_refused_without_password_fallback(sshd, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    conn = Connection(host="127.0.0.1", port=sshd.info.port, user=sshd.info.user, identity_file=str(stranger),
                      known_hosts=str(sshd.server.known_hosts), ssh_config="none")
    env_agent = os.environ.pop("SSH_AUTH_SOCK", None)  # an agent holding a valid key would make this pass
    try:
        with pytest.raises(EdgebenchError, match="SSH login to b as .* refused"):
            SSHTransport.connect(conn, name="b")
    finally:
        if env_agent is not None:
            os.environ["SSH_AUTH_SOCK"] = env_agent


@pytest.mark.slow
def test_ssh_config_alias_with_proxyjump(sshd, tmp_path):
    """An ~/.ssh/config alias whose ProxyJump goes through a jump host (the same sshd, forwarding to itself)."""
    config = tmp_path / "ssh_config"
    key = sshd.server.client_key
    config.write_text(textwrap.dedent(f"""
        Host jumpbox
          HostName 127.0.0.1
          Port {sshd.info.port}
          User {sshd.info.user}
          IdentityFile {key}
        Host lab-pi
          HostName 127.0.0.1
          Port {sshd.info.port}
          User {sshd.info.user}
          IdentityFile {key}
          ProxyJump jumpbox
    """))
    conn = Connection(host="lab-pi", ssh_config=str(config), known_hosts=str(sshd.server.known_hosts))
    logins_before = sshd.server.log.read_text().count("Accepted publickey")
    with SSHTransport.connect(conn, name="lab-pi") as board:
        assert board.resolved.proxy_jump == "jumpbox"
        assert board.run(["echo", "through"], timeout=30).stdout == "through\n"
    assert sshd.server.log.read_text().count("Accepted publickey") == logins_before + 2  # jump + target


@pytest.mark.slow
def test_unreachable_board_is_one_clear_error(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = Connection(host="127.0.0.1", port=port, known_hosts=str(tmp_path / "kh"), ssh_config="none",
                      connect_timeout_s=2)
    with pytest.raises(EdgebenchError, match=f"cannot reach b at .*127.0.0.1:{port}"):
        SSHTransport.connect(conn, name="b")


@pytest.mark.slow
def test_trust_command_pins_then_refuses_a_changed_key_until_replace(sshd, edgebench_dirs):
    """A 'real board' entry (the local sshd stands in for one) through `edgebench devices trust`."""
    known = edgebench_dirs / "known_hosts"
    lab = edgebench_dirs / "lab.yaml"
    lab.write_text(textwrap.dedent(f"""
        bench-pi:
          arch: aarch64
          cpu: cortex-a72
          cores: 4
          clock_mhz: 1500
          connection: {{host: 127.0.0.1, port: {sshd.info.port}, user: {sshd.info.user},
                        identity_file: {sshd.server.client_key}, known_hosts: {known}, ssh_config: none}}
    """))
    cli = CliRunner()

    def inventory() -> dict:
        result = cli.invoke(main, ["devices", "--devices", str(lab), "--json"])
        assert result.exit_code == 0, result.output
        return {r["name"]: r for r in json.loads(result.stdout)}["bench-pi"]

    assert inventory()["status"] == "unreachable" and "not in" in inventory()["detail"]
    trusted = cli.invoke(main, ["devices", "trust", "bench-pi", "--devices", str(lab), "--json"])
    assert trusted.exit_code == 0, trusted.output
    pinned = json.loads(trusted.stdout)
    assert pinned["fingerprint"] == ssh_keygen_fingerprint(sshd.server.host_key.with_suffix(".pub"))
    assert inventory()["status"] == "reachable"

    sshd.restart(new_host_key=True)
    assert "CHANGED" in inventory()["detail"]
    refused = cli.invoke(main, ["devices", "trust", "bench-pi", "--devices", str(lab)])
    assert refused.exit_code == 2 and "--replace" in refused.output
    replaced = cli.invoke(main, ["devices", "trust", "bench-pi", "--devices", str(lab), "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert inventory()["status"] == "reachable"
    assert len(known.read_text().splitlines()) == 1


@pytest.mark.slow
def test_server_killed_mid_command_is_a_lost_connection(sshd):
    def kill_session_processes():
        time.sleep(1.5)
        children = Path(f"/proc/{sshd.info.pid}/task/{sshd.info.pid}/children").read_text().split()
        for child in children:  # the per-connection sshd processes of this test's own server
            os.kill(int(child), signal.SIGKILL)

    board = sshd.connect()
    threading.Thread(target=kill_session_processes).start()
    with pytest.raises(ConnectionLost, match="lost while running `sleep 30`"):
        board.run(["sleep", "30"], timeout=60)
    with pytest.raises(ConnectionLost, match="is closed"):
        board.run(["true"], timeout=30)
    board.close()


@pytest.mark.slow
def test_ssh_config_alias_with_proxycommand(sshd, tmp_path):
    """ProxyCommand from ~/.ssh/config: here OpenSSH's own `ssh -W` through a jump host (the same sshd)."""
    key, known = sshd.server.client_key, sshd.server.known_hosts
    proxy = (f"ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known} -i {key} "
             f"-p {sshd.info.port} -W %h:%p {sshd.info.user}@127.0.0.1")
    config = tmp_path / "ssh_config"
    config.write_text(textwrap.dedent(f"""
        Host lab-pc
          HostName 127.0.0.1
          Port {sshd.info.port}
          User {sshd.info.user}
          IdentityFile {key}
          ProxyCommand {proxy}
    """))
    conn = Connection(host="lab-pc", ssh_config=str(config), known_hosts=str(known))
    logins_before = sshd.server.log.read_text().count("Accepted publickey")
    with SSHTransport.connect(conn, name="lab-pc") as board:
        assert board.resolved.proxy_command.startswith("ssh -F none")
        assert board.run(["echo", "proxied"], timeout=30).stdout == "proxied\n"
    assert sshd.server.log.read_text().count("Accepted publickey") == logins_before + 2
