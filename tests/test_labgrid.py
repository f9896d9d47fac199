"""Boards on labgrid places (issue 19): devices.yaml entries, the optional extra, and `edgebench run` on a real
loopback farm (tests/labgrid_farm.py: labgrid-coordinator + labgrid-exporter on 127.0.0.1 exporting the
emulated imx6 target's sshd): acquire/run/release, two runs competing for one place, the queue's line, a
killed run's place named and freed, SIGTERM and Ctrl-C releasing; and a suite spread over a farm of two imx6
boards (--parallel): both places used into one run, a place cut mid-suite, signals releasing both.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import labgrid_farm
from edgebench.boards import holds
from edgebench.boards.board import board_for
from edgebench.boards.devices import LabgridPlace, get_device, parse_devices_file, with_coordinator
from edgebench.boards.interrupts import Terminated, interrupts_held, sigterm_as_interrupt
from edgebench.boards.sshd import free_port
from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.results.store import Store

BOARD = {"arch": "aarch64", "cpu": "cortex-a72", "cores": 4, "clock_mhz": 1500}


def _entries(tmp_path: Path, **entries) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(yaml.safe_dump({name: {**BOARD, **entry} for name, entry in entries.items()}))
    return path


# -- the inventory ---------------------------------------------------------------------------------------------
def test_labgrid_entries_parse_into_a_place_or_tags(tmp_path):
    path = _entries(tmp_path, pi=dict(labgrid={"place": "pi4-03", "coordinator": "lab:20408"}),
                    any_pi=dict(labgrid={"tags": {"board": "rpi4", "ram": "4g"}},
                                connection={"identity_file": "keys/lab", "known_hosts": "lab_hosts"}))
    devices = parse_devices_file(path)
    assert devices["pi"].labgrid == LabgridPlace(place="pi4-03", coordinator="lab:20408", ssh=devices["pi"].labgrid.ssh)
    assert devices["pi"].connection is None and devices["pi"].labgrid.wanted == {"name": "pi4-03"}
    lab = devices["any_pi"].labgrid
    assert lab.wanted == {"board": "rpi4", "ram": "4g"} and lab.describe() == "board=rpi4 ram=4g"
    assert lab.ssh.identity_file == str(tmp_path / "keys" / "lab") and lab.ssh.host == ""
    assert board_for(devices["any_pi"]).kind == "labgrid" and board_for(devices["any_pi"]).pins_cpus


@pytest.mark.parametrize("entry, problem", [
    ({"labgrid": {"place": "a", "tags": {"board": "x"}}}, "name one place"),
    ({"labgrid": {}}, "name one place"),
    ({"labgrid": {"tags": {"Board": "x"}}}, "tag name 'Board'"),
    ({"labgrid": {"tags": {}}}, "at least one tag"),
    ({"labgrid": {"place": "a", "lock": True}}, "unknown field"),
    ({"labgrid": {"place": "a"}, "connection": {"host": "10.0.0.2"}}, "NetworkService says where"),
    ({"labgrid": {"place": "a"}, "connection": {"port": 22}}, "field connection.port"),
])
def test_bad_labgrid_entries_are_refused_in_one_line(tmp_path, entry, problem):
    with pytest.raises(EdgebenchError) as caught:
        parse_devices_file(_entries(tmp_path, lab=entry))
    assert problem in caught.value.message and "device 'lab'" in caught.value.message


def test_the_coordinator_comes_from_the_option_then_the_entry_then_lg_coordinator(tmp_path, monkeypatch):
    devices = parse_devices_file(_entries(tmp_path, named=dict(labgrid={"place": "a", "coordinator": "entry:1"}),
                                          bare=dict(labgrid={"place": "a"}),
                                          real=dict(connection={"host": "10.0.0.2"})))
    monkeypatch.setenv("LG_COORDINATOR", "env:2")
    assert devices["named"].labgrid.coordinator_address("named") == "entry:1"
    assert devices["bare"].labgrid.coordinator_address("bare") == "env:2"
    assert with_coordinator(devices["named"], "option:3").labgrid.coordinator_address("named") == "option:3"
    monkeypatch.delenv("LG_COORDINATOR")
    with pytest.raises(EdgebenchError, match="no coordinator is named") as caught:
        devices["bare"].labgrid.coordinator_address("bare")
    assert "--coordinator" in caught.value.hint
    with pytest.raises(EdgebenchError, match="--coordinator is for labgrid devices"):
        with_coordinator(devices["real"], "option:3")


# -- without labgrid, or without a coordinator -------------------------------------------------------------------
def test_without_labgrid_installed_a_labgrid_device_says_what_to_install(tmp_path, monkeypatch, edgebench_dirs):
    path = _entries(tmp_path, lab=dict(labgrid={"place": "pi4-03", "coordinator": "127.0.0.1:1"}))
    for name in [m for m in sys.modules if m == "labgrid" or m.startswith("labgrid.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "labgrid", None)  # import labgrid -> ImportError, as when not installed
    r = CliRunner().invoke(main, ["run", "--devices", str(path), "--device", "lab", "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith(("error:", "  hint:"))]
    assert errors[0].startswith("error: device 'lab' is a labgrid place, and labgrid is not installed")
    assert errors[1] == "  hint: pip install edgebench[labgrid]"
    listing = CliRunner().invoke(main, ["devices", "--devices", str(path), "--json"])
    row = next(d for d in yaml.safe_load(listing.stdout) if d["name"] == "lab")
    assert (row["kind"], row["status"], row["hint"]) == ("labgrid", "unreachable", "pip install edgebench[labgrid]")


def test_a_coordinator_that_does_not_answer_is_one_line(tmp_path, edgebench_dirs):
    path = _entries(tmp_path, lab=dict(labgrid={"tags": {"board": "rpi4"}}))
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    r = CliRunner().invoke(main, ["run", "--devices", str(path), "--device", "lab", "--coordinator", address,
                                  "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and time.monotonic() - started < 30
    assert f"error: the labgrid coordinator at {address} does not answer" in r.stderr
    assert "Traceback" not in r.output and "ERROR:root" not in r.stderr  # labgrid's own log line is not shown


def test_parallel_needs_an_entry_whose_tags_match_places(tmp_path, edgebench_dirs):
    path = _entries(tmp_path, one=dict(labgrid={"place": "pi4-03", "coordinator": f"127.0.0.1:{free_port()}"}),
                    real=dict(connection={"host": "10.0.0.2"}))
    for device, problem in (("one", "error: --parallel spreads a run over the places an entry's tags match; one is "
                                    "the one place pi4-03"),
                            ("real", "error: --parallel spreads a run over labgrid places; real is not on one")):
        r = CliRunner().invoke(main, ["run", "--devices", str(path), "--device", device, "--parallel",
                                      "--store", str(tmp_path / "s.db")])
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert problem in r.stderr and "hint: name a devices.yaml entry with labgrid: {tags: {...}}" in r.stderr


# -- signals ---------------------------------------------------------------------------------------------------
def test_sigterm_raises_like_ctrl_c_while_a_place_is_wanted_and_waits_while_it_is_given_back():
    restore = sigterm_as_interrupt()
    try:
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here, at once
        given_back = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts_held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
                given_back.append("released")  # not cut short by the Ctrl-C
        assert given_back == ["released"]
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_hold_record_tells_a_live_holder_from_a_dead_one(edgebench_dirs):
    mine = holds.write("127.0.0.1:1", "pi4-03", "TOKEN")
    assert holds.read("127.0.0.1:1", "pi4-03") == mine and mine.alive()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = holds.HoldRecord(**{**mine.__dict__, "pid": child.pid})
    assert not dead.alive()
    holds.remove(dead)  # not the record on file: left alone
    assert holds.read("127.0.0.1:1", "pi4-03") == mine
    holds.remove(mine)
    assert holds.read("127.0.0.1:1", "pi4-03") is None


# -- a real farm -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture
def farm(tmp_path, monkeypatch, shared_cache):
    yield from _farm(tmp_path, monkeypatch, shared_cache, ("imx6-a",))


@pytest.fixture
def farm_of_two(tmp_path, monkeypatch, shared_cache):
    """Two imx6 boards, places imx6-a and imx6-b, both tagged board=imx6."""
    yield from _farm(tmp_path, monkeypatch, shared_cache, ("imx6-a", "imx6-b"))


def _farm(tmp_path, monkeypatch, shared_cache, imx6_places):
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    farm = labgrid_farm.start_farm(tmp_path, imx6_places)
    yield farm
    labgrid_farm.stop_farm(farm)


def _free(farm, places=("imx6-a",)) -> None:
    """The places are back: not acquired, no reservation left, no hold on file."""
    assert all(farm.place(p).acquired_by is None for p in places)
    assert farm.reservations() == [] and farm.holds() == []


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


@pytest.mark.slow
def test_a_run_acquires_a_place_by_tags_runs_there_and_releases_it(farm, artifacts):
    _ok(subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts), capture_output=True, text=True,
                       timeout=900))
    log = farm.coordinator_log()
    assert "imx6-a: place acquired by" in log and "imx6-a: place released" in log and "rpi4-a: place acquired" not in log
    _free(farm)
    listing = subprocess.run([labgrid_farm.EDGEBENCH, "devices", "--devices", str(farm.devices), "--json"],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in yaml.safe_load(listing.stdout)}
    assert rows["lab-imx6"]["kind"] == "labgrid" and rows["lab-imx6"]["status"] == "reachable"
    assert rows["lab-imx6"]["detail"] == f"labgrid {farm.address}: 1 of 1 place(s) matching board=imx6 free"
    # A named place's host key is read from its NetworkService without acquiring it (pinned by the target).
    trusted = subprocess.run([labgrid_farm.EDGEBENCH, "devices", "trust", "lab-imx6-a", "--devices", str(farm.devices)],
                             capture_output=True, text=True, timeout=60)
    assert trusted.returncode == 0 and "already trusted" in trusted.stdout, trusted.stderr
    with Store(farm.root / "store.sqlite3") as store:
        run = store.latest_run("lab-imx6")
        [result] = store.results(run.id)
    # Run exactly as on the emulated imx6 itself: counted through the place's sshd inside the board's view.
    assert result.status == "ok" and result.counters and result.counters[0].instructions > 1_000_000
    assert result.board.emulated and result.board.emulator == "qemu-arm -cpu cortex-a9"


@pytest.mark.slow
def test_two_runs_compete_for_one_place_the_second_waits_then_runs(farm, artifacts):
    first = subprocess.Popen(labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True)
    farm.wait_acquired("imx6-a")
    second = subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), capture_output=True,
                            text=True, timeout=900)
    _, first_err = first.communicate(timeout=900)
    assert first.returncode == 0, first_err
    assert "lab-imx6-a: waiting for place imx6-a: 0 ahead (imx6-a by " in _ok(second)
    log = farm.coordinator_log()
    # One after the other: the second acquired the place only once the first had released it.
    events = [line.split()[2] for line in log.splitlines() if line.startswith("imx6-a: place ")]
    assert events == ["acquired", "released", "acquired", "released"]
    _free(farm)
    with Store(farm.root / "store.sqlite3") as store:
        assert len(store.runs(device="lab-imx6-a", with_results=True)) == 2


@pytest.mark.slow
def test_the_queue_line_counts_who_is_ahead_and_no_wait_refuses(farm, artifacts):
    alice, bob = {"LG_USERNAME": "alice"}, {"LG_USERNAME": "bob"}
    farm.client("-p", "imx6-a", "acquire", env=alice)  # someone else's session on the board
    farm.client("reserve", "board=imx6", env=bob)  # and someone queued before us
    refused = subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts, "--no-wait"),
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "every labgrid place matching board=imx6 is in use (imx6-a by " in refused.stderr
    assert "alice since" in refused.stderr and "leave out --no-wait" in refused.stderr
    waiting = _waiting_run(farm, artifacts, "lab-imx6: waiting for a board=imx6: 1 ahead (imx6-a by ")
    # A third run queues behind both, and stopped while it waits, it leaves no reservation behind.
    third = _waiting_run(farm, artifacts, "lab-imx6: waiting for a board=imx6: 2 ahead (imx6-a by ")
    assert len(farm.reservations()) == 3
    third.send_signal(signal.SIGTERM)
    _, rest = third.communicate(timeout=60)
    assert third.returncode == 130 and "Traceback" not in rest, rest
    assert len(farm.reservations()) == 2 and farm.holds() == []
    [bobs] = [t for t in farm.reservations() if t.owner.endswith("/bob")]
    farm.client("cancel-reservation", bobs.token, env=bob)
    farm.client("-p", "imx6-a", "release", env=alice)
    _, rest = waiting.communicate(timeout=900)
    assert waiting.returncode == 0 and "Traceback" not in rest, rest
    _free(farm)


def _waiting_run(farm, artifacts, expected: str) -> subprocess.Popen:
    """`edgebench run --device lab-imx6` started, once it shows that it waits with `expected` in the line."""
    run = subprocess.Popen(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts), stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    line = ""
    while "waiting for" not in line:
        line = run.stderr.readline()
        assert line, "the run ended without a waiting line"
    assert expected in line and "alice since" in line, line
    return run


@pytest.mark.slow
def test_a_killed_run_leaves_its_place_named_with_the_command_that_frees_it(farm, artifacts):
    killed = subprocess.Popen(labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    farm.wait_acquired("imx6-a")
    os.killpg(killed.pid, signal.SIGKILL)  # no clean-up of any kind can run
    killed.wait()
    started = time.monotonic()
    named = subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), capture_output=True,
                           text=True, timeout=120)
    assert named.returncode == 2 and time.monotonic() - started < 60  # named, not waited for forever
    assert (f"error: labgrid place imx6-a is still acquired by an edgebench that is gone (pid {killed.pid}, "
            "`edgebench run --devices") in named.stderr
    [hint] = [line for line in named.stderr.splitlines() if line.startswith("  hint: free it: ")]
    for command in hint.removeprefix("  hint: free it: ").split(" && "):
        subprocess.run(shlex.split(command.replace("labgrid-client", str(labgrid_farm.BIN / "labgrid-client"), 1)),
                       check=True, capture_output=True, timeout=30)
    assert farm.place("imx6-a").acquired_by is None and farm.reservations() == []
    _ok(subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), capture_output=True, text=True,
                       timeout=900))
    _free(farm)


def _ctrl_c_live() -> None:
    """The run gets Ctrl-C as from a terminal, even where this test runs as a background job (which inherits
    SIGINT ignored, and Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_sigterm_and_ctrl_c_release_the_place(farm, artifacts, stop):
    run = subprocess.Popen(labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_ctrl_c_live)
    farm.wait_acquired("imx6-a")
    time.sleep(0.5)  # into the run proper (export, build or deploy)
    run.send_signal(stop)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    _free(farm)


@pytest.mark.slow
def test_a_run_that_fails_on_the_place_releases_it(farm, artifacts):
    failed = subprocess.run([*labgrid_farm.edgebench_run(farm, "lab-imx6-a", artifacts), "--model", "no_such_model"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "1 model(s) failed: no_such_model" in failed.stderr
    assert "Traceback" not in failed.stderr, failed.stderr
    log = farm.coordinator_log()
    assert "imx6-a: place acquired by" in log and "imx6-a: place released" in log
    _free(farm)


# -- a suite spread over the farm ---------------------------------------------------------------------------------
ANCHOR = "effnet_cifar10"  # the smallest of the models below: the one every board runs
SPREAD = ("--parallel", "--model", ANCHOR, "--model", "shufflenet_v1_g3_0.25x")  # + edgebench_run's fd_mobilenet_0.25x
WIDE = {**os.environ, "COLUMNS": "250"}  # one progress line per line, unwrapped


def _spread_results(farm) -> list:
    with Store(farm.root / "store.sqlite3") as store:
        [run] = store.runs(device="lab-imx6", with_results=True)
        return store.results(run.id)


@pytest.mark.slow
def test_a_suite_spreads_over_two_places_into_one_run(farm_of_two, artifacts):
    farm = farm_of_two
    done = subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts, *SPREAD), capture_output=True,
                          text=True, timeout=900, env=WIDE)
    stderr = _ok(done)
    log = farm.coordinator_log()
    assert all(f"{p}: place acquired by" in log and f"{p}: place released" in log for p in ("imx6-a", "imx6-b"))
    _free(farm, ("imx6-a", "imx6-b"))
    results = _spread_results(farm)  # one run
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    assert sorted(r.board_name for r in results if r.model == ANCHOR) == ["imx6-a", "imx6-b"]
    others = [r for r in results if r.model != ANCHOR]
    assert sorted(r.model for r in others) == ["fd_mobilenet_0.25x", "shufflenet_v1_g3_0.25x"]  # each once
    assert all(r.board_name in ("imx6-a", "imx6-b") and f"✓ {r.model} on {r.board_name}: " in stderr for r in results)
    assert f"anchor {ANCHOR}: runs on every board" in stderr and "imx6-a runs " in stderr and "imx6-b runs " in stderr
    a, b = (r for r in results if r.model == ANCHOR)
    assert a.counters == b.counters  # two boards of one kind, counted exactly alike
    assert "The boards' state agrees" in done.stdout
    [spread] = [line for line in done.stdout.splitlines() if line.startswith(f"{ANCHOR} ") and " ms, imx6-b " in line]
    assert "modeled" in spread and spread.endswith("0.0%")


@pytest.mark.slow
def test_a_place_lost_mid_suite_leaves_its_models_to_the_other(farm_of_two, artifacts):
    farm = farm_of_two
    run = subprocess.Popen(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts, *SPREAD, "--model",
                                                      "mobilenet_v1_0.125x"),
                           stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=WIDE)
    seen, cut = [], None
    for line in run.stderr:
        seen.append(line)
        if line.startswith("imx6-b runs ") and line.split()[-1] != ANCHOR:  # its anchor stored, its next begun
            cut = line.split()[-1]
            farm.cut("imx6-b")
            break
    stderr = "".join(seen) + run.stderr.read()
    assert run.wait(timeout=900) == 0 and "Traceback" not in stderr, stderr
    assert cut is not None, f"imx6-b never took a second model: {stderr}"
    assert f"imx6-b lost after 1 result(s) (" in stderr and f"; {cut} back in the queue" in stderr, stderr
    results = _spread_results(farm)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    assert [r.model for r in results if r.board_name == "imx6-b"] == [ANCHOR]  # what it finished stays
    assert [r.board_name for r in results if r.model == cut] == ["imx6-a"]  # the model it lost, done there
    assert sorted(r.model for r in results if r.model != ANCHOR) == sorted(
        ["fd_mobilenet_0.25x", "shufflenet_v1_g3_0.25x", "mobilenet_v1_0.125x"])
    assert "imx6-b: place released" in farm.coordinator_log()
    _free(farm, ("imx6-a", "imx6-b"))


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_sigterm_and_ctrl_c_release_every_place_of_a_spread_run(farm_of_two, artifacts, stop):
    farm = farm_of_two
    run = subprocess.Popen(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts, *SPREAD), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, start_new_session=True, env=WIDE,
                           preexec_fn=_ctrl_c_live)
    seen = []
    for line in run.stderr:
        seen.append(line)
        if line.startswith("imx6-b runs "):  # both places held, a model under way on each
            break
    run.send_signal(stop)
    _, rest = run.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert run.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    _free(farm, ("imx6-a", "imx6-b"))


@pytest.mark.slow
def test_a_spread_run_uses_the_places_that_are_free(farm_of_two, artifacts):
    farm = farm_of_two
    alice = {"LG_USERNAME": "alice"}
    farm.client("-p", "imx6-b", "acquire", env=alice)  # someone else's session on one of the two
    stderr = _ok(subprocess.run(labgrid_farm.edgebench_run(farm, "lab-imx6", artifacts, *SPREAD), capture_output=True,
                                text=True, timeout=900, env=WIDE))
    assert "imx6-b: not used (lab-imx6: every labgrid place matching imx6-b is in use (imx6-b by " in stderr
    assert "anchor" not in stderr  # one board: nothing to compare
    results = _spread_results(farm)
    assert sorted(r.model for r in results) == sorted([ANCHOR, "fd_mobilenet_0.25x", "shufflenet_v1_g3_0.25x"])
    assert {r.board_name for r in results} == {"imx6-a"} and all(r.status == "ok" for r in results)
    assert farm.place("imx6-b").acquired_by.endswith("/alice")  # theirs still
    farm.client("-p", "imx6-b", "release", env=alice)
    _free(farm, ("imx6-a", "imx6-b"))
