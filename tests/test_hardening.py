"""Issue 15, row by row: each exact input a hostile but fair user tried, and what must happen now.

Real parts throughout (the real CLI, real SQLite files, real sshd for emulated targets); the run fakes below
stand in only for the board work a refusal must never reach. The faults injected into whole runs (board lost,
disk full, connection dropped, a model timing out) are in test_fault_injection.py.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from result_factory import make_result

from edgebench.boards import targets
from edgebench.boards.devices import PACKAGED_DEVICES, get_device
from edgebench.boards.lock import board_lock
from edgebench.boards.transport import ConnectProblem
from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.results.store import Store


def cli(*args) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_clear_line(result, *fragments: str) -> None:
    """Exit 2, a single `error:` line (plus its hint), every fragment in it, never a traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def real_board_yaml(folder: Path, name: str = "pi", **connection) -> Path:
    entry = {"arch": "aarch64", "cpu": "cortex-a72", "cores": 4, "clock_mhz": 1500,
             "connection": {"known_hosts": str(folder / "known_hosts"), "ssh_config": "none",
                            "connect_timeout_s": 1, **connection}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({name: entry}))
    return path


def emulated_yaml(folder: Path, name: str, workdir: str) -> Path:
    entry = yaml.safe_load(PACKAGED_DEVICES.read_text())["imx6"]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({name: {**entry, "workdir": workdir}}))
    return path


@pytest.fixture
def here(edgebench_dirs, monkeypatch) -> Path:
    monkeypatch.chdir(edgebench_dirs)
    return edgebench_dirs


# -- row 14 (and 13, 6): connection problems are named in one vocabulary, before any export ----------------------

@pytest.fixture
def silent_port():
    """A port that accepts TCP and never says a word: the SSH banner never comes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("where, problem, detail", [
    ("closed", ConnectProblem.REFUSED, "refused (connection refused)"),
    ("silent", ConnectProblem.TIMED_OUT, "timed out"),
    ("no-such-board.invalid", ConnectProblem.NAME_NOT_FOUND, "name not found"),
])
def test_unreachable_board_is_named_before_any_export_and_leaves_no_run(here, silent_port, where, problem, detail):
    host, port = {"closed": ("127.0.0.1", closed_port()), "silent": ("127.0.0.1", silent_port)}.get(where, (where, 22))
    lab = real_board_yaml(here, host=host, port=port, user="u")
    art, store = here / "artifacts", here / "store.sqlite3"
    r = cli("run", "--device", "pi", "--model", "fd_mobilenet_0.25x", "--devices", lab, "--artifacts", art,
            "--store", store)
    one_clear_line(r, "cannot reach pi at", detail, f"hint: {problem.hint}")
    assert "Errno" not in r.stderr and "Unable to connect" not in r.stderr  # no library noise
    assert not art.exists()  # nothing was exported for a board that cannot be reached
    assert Store(store).runs() == []  # row 13: a refused run is not left behind as a run
    rows = {r["name"]: r for r in json.loads(cli("devices", "--devices", lab, "--json").stdout)}
    assert (rows["pi"]["status"], rows["pi"]["problem"], rows["pi"]["hint"]) == ("unreachable", problem.value,
                                                                                 problem.hint)


def test_identity_file_of_binary_garbage_is_one_clear_line(here):
    """Row 6: paramiko died with a UnicodeDecodeError traceback."""
    garbage = here / "id_garbage"
    garbage.write_bytes(bytes(range(256)) * 64)
    lab = real_board_yaml(here, host="127.0.0.1", port=closed_port(), user="u", identity_file=str(garbage))
    r = cli("run", "--device", "pi", "--devices", lab, "--artifacts", here / "art", "--store", here / "s.sqlite3")
    one_clear_line(r, f"identity file {garbage} for pi is not an SSH private key")
    rows = {r["name"]: r for r in json.loads(cli("devices", "--devices", lab, "--json").stdout)}
    assert rows["pi"]["problem"] == ConnectProblem.AUTH_FAILED.value
    missing = real_board_yaml(here, name="pj", host="127.0.0.1", port=closed_port(), identity_file=str(here / "nope"))
    one_clear_line(cli("run", "--device", "pj", "--devices", missing, "--store", here / "s.sqlite3"),
                   "cannot be read: No such file or directory")


# -- row 8: a damaged store is refused before any board work ----------------------------------------------------

def test_damaged_store_is_refused_before_the_target_starts(here):
    store = here / "store.sqlite3"
    with Store(store) as s:
        run_id = s.begin_run("imx6", [])
        for i in range(20):
            s.add_result(make_result(run_id, f"m{i}_1.0x", n=500, counters=50))
    page = sqlite3.connect(store).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(store.read_bytes())
    data[page:] = bytes((i * 7919) % 251 for i in range(len(data) - page))
    store.write_bytes(bytes(data))
    before = digest(store)
    r = cli("run", "--device", "imx6", "--store", store, "--artifacts", here / "art")
    one_clear_line(r, "is damaged", "left untouched")
    assert digest(store) == before
    assert not (here / "data" / "targets").exists() and not (here / "art").exists()  # no target, no export


# -- rows 9, 10: a data folder that cannot be created, or is read-only ------------------------------------------

@pytest.mark.parametrize("data", ["/proc/edgebench-x", "/dev/null/x"])
def test_data_folder_that_cannot_be_created_is_one_clear_line(here, monkeypatch, data):
    monkeypatch.setenv("EDGEBENCH_DATA", data)
    for args in (["run", "--device", "imx6"], ["target", "up", "imx6"]):
        one_clear_line(cli(*args), "cannot create the", data, "EDGEBENCH_DATA")
    listed = cli("results")  # readers create nothing, so they have nothing to fail on
    assert listed.exit_code == 0 and "no runs stored" in listed.stderr
    assert cli("devices", "--json").exit_code == 0


def test_read_only_data_folder_is_read_and_refused_for_writing(here, monkeypatch, read_only_folder):
    data = read_only_folder.path
    monkeypatch.setenv("EDGEBENCH_DATA", str(data))
    with Store() as s:
        run_id = s.begin_run("imx6", ["edgebench", "run"])
        s.add_result(make_result(run_id, "fd_mobilenet_1.0x"))
    read_only_folder.seal()
    before = digest(data / "results.sqlite3")
    shown = cli("report")
    assert shown.exit_code == 0 and run_id in shown.stdout, shown.output
    one_clear_line(cli("target", "up", "imx6"), "cannot", "imx6", "EDGEBENCH_DATA")
    one_clear_line(cli("run", "--device", "imx6", "--artifacts", here / "art"), "is read-only", "left untouched")
    assert digest(data / "results.sqlite3") == before and not (here / "art").exists()


# -- row 11: an emulated workdir that cannot be created or is read-only -----------------------------------------

@pytest.mark.parametrize("kind", ["not creatable", "read-only"])
def test_emulated_workdir_refused_before_its_sshd_starts(here, read_only_folder, kind):
    read_only_folder.seal()
    workdir = "/proc/edgebench-workdir" if kind == "not creatable" else str(read_only_folder.path)
    lab = emulated_yaml(here, "wd-board", workdir)
    for args in (["target", "up", "wd-board"], ["run", "--device", "wd-board", "--no-wait"]):
        one_clear_line(cli(*args, "--devices", lab), f"workdir {workdir}" if kind == "read-only" else workdir)
    assert not targets.target_status(get_device("wd-board", lab)).up  # no sshd left running
    assert not list((here / "data" / "targets").rglob("server.json"))


@pytest.mark.slow
@pytest.mark.parametrize("wait", [False, True])
def test_lock_in_a_read_only_workdir_is_named_not_called_busy(sshd, read_only_folder, wait):
    """The real-board path of row 11: `--no-wait` said "held by an unknown holder", waiting crashed."""
    read_only_folder.seal()
    with sshd.connect() as board:
        with pytest.raises(EdgebenchError) as info:
            with board_lock(board, str(read_only_folder.path), wait=wait, on_wait=lambda i: pytest.fail("waited")):
                pass
    assert "cannot create the lock" in info.value.message and "Read-only file system" in info.value.message
    assert "busy" not in info.value.message and "unknown holder" not in info.value.message


# -- row 4: a bare --resume finishes exactly what the run was asked to do ---------------------------------------

@pytest.fixture
def requests_seen(monkeypatch):
    """Session.execute replaced by a recorder: these tests are about which request the CLI builds."""
    from edgebench.bench import session as run_mod
    seen = []

    def record(self, request, on_result):
        seen.append(request)
        return request.resume_run, []

    monkeypatch.setattr(run_mod.Session, "execute", record)
    return seen


def test_bare_resume_takes_the_runs_own_request(here, requests_seen):
    store = here / "s.sqlite3"
    argv = ["/usr/bin/edgebench", "run", "--device", "rpi4", "--model", "a_1.0x", "--model", "b_1.0x",
            "--suite", "paper", "--loops", "7", "--no-counters", "--timeout", "99"]
    with Store(store) as s:
        run_id = s.begin_run("rpi4", argv)
        s.add_result(make_result(run_id, "a_1.0x", device="rpi4"))
    assert cli("run", "--resume", run_id, "--store", store).exit_code == 0
    assert cli("run", "--resume", run_id, "--loops", "3", "--store", store).exit_code == 0
    from edgebench.models.registry import suite

    first, second = requests_seen
    assert first.device.name == "rpi4" and first.models == ("a_1.0x", "b_1.0x", *suite("paper"))
    assert "fd_mobilenet_1.0x" not in first.models[2:] or "fd_mobilenet_1.0x" in suite("paper")
    assert (first.settings.loops, first.count, first.timeout_s, first.resume_run) == (7, False, 99.0, run_id)
    assert second.settings.loops == 3 and second.models == first.models  # given again: the new value wins


def test_bare_resume_of_a_run_not_started_by_edgebench_run_asks_for_its_models(here, requests_seen):
    store = here / "s.sqlite3"
    with Store(store) as s:
        run_id = s.begin_run("imx6", ["edgebench", "reproduce", "fd-mobilenet"])
        s.add_result(make_result(run_id, "a_1.0x", device="imx6"))
    one_clear_line(cli("run", "--resume", run_id, "--store", store), "not `edgebench run`", "--model or --suite")
    assert cli("run", "--resume", run_id, "--model", "b_1.0x", "--store", store).exit_code == 0
    assert requests_seen[0].models == ("b_1.0x",)


# -- rows 2, 3: an emulated target's identity is pinned once; a changed key is refused; trust sticks ------------

def _replace_host_key(state: Path, private_only: bool) -> None:
    key = state / "ssh_host_ed25519_key"
    fresh = state / "fresh_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fresh)], check=True)
    fresh.replace(key)
    pub = Path(f"{fresh}.pub")
    if private_only:
        pub.unlink()  # the stale .pub of the old key stays beside the new private key
    else:
        pub.replace(key.with_suffix(".pub"))


@pytest.mark.slow
@pytest.mark.parametrize("private_only", [False, True], ids=["private and .pub replaced", "only private replaced"])
def test_replaced_target_host_key_is_refused_until_trusted_and_trust_sticks(here, private_only):
    device = get_device("imx6")
    try:
        state = Path(targets.target_up(device).state_dir)
        targets.target_down(device)
        _replace_host_key(state, private_only)
        r = cli("run", "--device", "imx6", "--artifacts", here / "art", "--store", here / "s.sqlite3")
        one_clear_line(r, "host key of imx6", "CHANGED", "edgebench devices trust imx6 --replace")
        assert not (here / "art").exists()  # refused before any export
        trusted = cli("devices", "trust", "imx6", "--replace")
        assert trusted.exit_code == 0, trusted.output
        for _ in range(2):  # and it sticks: the next up (a new port) carries the trusted key, not the .pub
            transport, _ = targets.connect(device)
            with transport:
                assert transport.run(["true"], timeout=30).ok
            targets.target_down(device)
            targets.target_up(device)
    finally:
        targets.target_down(device)


def test_a_manifest_from_another_version_is_one_line_naming_the_field_and_the_fix(tmp_path):
    """Every manifest embeds its model's spec: a field this version does not know must not end in a dump of the
    whole spec, but name the field and the command that re-exports."""
    from fake_board import tiny_artifact

    from edgebench.export.manifest import MANIFEST_NAME, load_manifest

    folder = tiny_artifact(tmp_path, "tiny")
    doc = json.loads((folder / MANIFEST_NAME).read_text())
    doc["onnx_input"]["colour"] = "red"
    (folder / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(EdgebenchError) as err:
        load_manifest(folder)
    message = str(err.value).splitlines()[0]
    assert "unknown field(s) ['colour'] for TensorInfo" in message and len(message) < 300
    assert "edgebench export tiny --force" in err.value.hint


def test_a_mistyped_device_is_named_before_any_store_file_is_made(here, tmp_path):
    store = tmp_path / "results.sqlite3"
    one_clear_line(cli("run", "--device", "imx9", "--model", "fd_mobilenet_0.25x", "--store", store),
                   "unknown device 'imx9'")
    assert not store.exists()
