"""A loopback labgrid farm for the tests: a real labgrid-coordinator on 127.0.0.1, a real labgrid-exporter
exporting the project's own emulated imx6 target (its private sshd) as NetworkService places, the places
created and tagged with labgrid-client as a lab's admin would, and a devices.yaml whose entries name them.

A farm of two imx6 boards (`start_farm(root, imx6_places=("imx6-a", "imx6-b"))`) adds a second board of one
kind: the same target's sshd config and keys started again on a port of its own, inside a private mount
namespace where the lab workdir is a folder of its own, so the two places share nothing a run writes (as two
boards would not); `Farm.cut(place)` takes that board away at once, as a pulled cable or power would.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edgebench.boards.devices import get_device
from edgebench.boards.lab import Lab, PlaceInfo
from edgebench.boards.ssh import known_hosts_name
from edgebench.boards.sshd import SshServer, find_sshd, free_port
from edgebench.boards.targets import state_dir, target_down, target_up

BIN = Path(sys.executable).parent  # labgrid-* and edgebench are installed beside this python
EDGEBENCH = str(BIN / "edgebench")
IMX6 = {k: v for k, v in yaml.safe_load((Path(__file__).parents[1] / "edgebench" / "devices.yaml").read_text())["imx6"].items()
        if k != "description"}


@dataclass
class Farm:
    root: Path
    address: str
    devices: Path  # a devices.yaml with the lab's entries
    processes: list[subprocess.Popen]
    boards: dict[str, SshServer] = field(default_factory=dict)  # the second boards, by place

    def cut(self, place: str) -> None:
        """Kill the place's sshd and everything its sessions run: its connections drop mid-command."""
        for pid in _tree(int(self.boards[place].pidfile.read_text())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def client(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "labgrid-client"), "-x", self.address, *args], capture_output=True,
                              text=True, timeout=30, env={**os.environ, **(env or {})})
        assert done.returncode == 0, f"labgrid-client {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def place(self, name: str) -> PlaceInfo:
        return Lab(self.address).place(name)

    def reservations(self) -> list:
        return Lab(self.address).tickets()

    def wait_acquired(self, name: str, timeout_s: float = 120.0) -> PlaceInfo:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            place = self.place(name)
            if place.acquired_by:
                return place
            time.sleep(0.1)
        raise AssertionError(f"place {name} was never acquired")

    def holds(self) -> list[Path]:
        folder = self.root / "data" / "labgrid"
        return sorted(folder.iterdir()) if folder.is_dir() else []

    def coordinator_log(self) -> str:
        return (self.root / "coordinator.log").read_text()

    def stop(self) -> None:
        for place, server in self.boards.items():
            if server.pidfile.is_file():
                self.cut(place)
        for proc in reversed(self.processes):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(predicate, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _tree(pid: int) -> list[int]:
    """`pid` and every process descended from it."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    tree = [pid]
    for parent in tree:
        tree += [child for child, p in parents.items() if p == parent]
    return tree


# A private mount namespace for a second board's sshd: as root directly; otherwise in a user namespace mapped to
# this user (the one login sshd allows), keeping the capability to mount there.
_MOUNT_NAMESPACE = (["unshare", "--mount"] if os.geteuid() == 0
                    else ["unshare", "--user", "--map-current-user", "--keep-caps", "--mount"])


def _second_board(root: Path, place: str, target: Path, workdir: Path) -> tuple[SshServer, int]:
    """Another imx6 board on this machine: the target's keys (one host identity, one client key, as a farm's
    boards of one image have), its own port, and its own folder where the lab workdir is."""
    server = SshServer(root / place)
    server.root.mkdir()
    for key in ("ssh_host_ed25519_key", "client_ed25519"):
        for name in (key, f"{key}.pub"):
            shutil.copy2(target / name, server.root / name)
    server.prepare()
    port = free_port()
    server._write_config(port, getpass.getuser())
    own = root / f"{place}-workdir"
    own.mkdir()
    workdir.mkdir(exist_ok=True)
    subprocess.run([*_MOUNT_NAMESPACE, "--", "sh", "-c", 'mount --bind "$1" "$2" && exec "$3" -f "$4" -E "$5"', "sh",
                    str(own), str(workdir), find_sshd(), str(server.config), str(server.log)], check=True, timeout=30)
    _wait_for(lambda: server.pidfile.is_file() and server.pidfile.read_text().strip(), f"the sshd of {place}")
    return server, port


def start_farm(root: Path, imx6_places: tuple[str, ...] = ("imx6-a",)) -> Farm:
    """Coordinator + exporter + places imx6-a (board=imx6, the imx6 target's sshd) and rpi4-a (board=rpi4, a
    place nothing here runs on: tags must choose); further `imx6_places` are second boards of the imx6 kind.
    EDGEBENCH_DATA must point under `root` already."""
    imx6 = get_device("imx6")
    status = target_up(imx6)
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = open(root / "coordinator.log", "w")
    processes = [subprocess.Popen([str(BIN / "labgrid-coordinator"), "--listen", address], cwd=root, stdout=log,
                                  stderr=subprocess.STDOUT)]
    farm = Farm(root=root, address=address, devices=root / "devices.yaml", processes=processes)
    try:
        _wait_for(lambda: "listening on" in farm.coordinator_log(), "the coordinator")
        user = getpass.getuser()  # the one login the target's sshd allows
        target = state_dir(imx6)
        ports = {"imx6-a": status.port, "rpi4-a": free_port()}
        for place in imx6_places[1:]:
            farm.boards[place], ports[place] = _second_board(root, place, target, root / "lab-workdir")
        exported = {place: {"NetworkService": {"address": "127.0.0.1", "username": user, "port": port}}
                    for place, port in ports.items()}
        (root / "exporter.yaml").write_text(yaml.safe_dump(exported))
        processes.append(subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", address, "--name", "farm",
                                           str(root / "exporter.yaml")], cwd=root,
                                          stdout=open(root / "exporter.log", "w"), stderr=subprocess.STDOUT))
        _wait_for(lambda: "farm/imx6-a/NetworkService" in farm.client("resources").stdout, "the exporter")
        for place, board in (*((p, "imx6") for p in imx6_places), ("rpi4-a", "rpi4")):
            farm.client("-p", place, "create")
            farm.client("-p", place, "add-match", f"farm/{place}/NetworkService")
            farm.client("-p", place, "set-tags", f"board={board}")
        # Every imx6 place's host key, as a lab's known_hosts would pin its boards.
        host_key = " ".join((target / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        (root / "known_hosts").write_text((target / "known_hosts").read_text() + "".join(
            f"{known_hosts_name('127.0.0.1', ports[p])} {host_key}\n" for p in imx6_places[1:]))
        lab_entry = {**IMX6, "workdir": str(root / "lab-workdir"),
                     "connection": {"identity_file": str(target / "client_ed25519"),
                                    "known_hosts": str(root / "known_hosts"), "ssh_config": "none"}}
        farm.devices.write_text(yaml.safe_dump({
            "lab-imx6": {**lab_entry, "labgrid": {"tags": {"board": "imx6"}, "coordinator": address}},
            "lab-imx6-a": {**lab_entry, "labgrid": {"place": "imx6-a", "coordinator": address}},
        }))
    except BaseException:
        farm.stop()
        target_down(imx6)
        raise
    return farm


def stop_farm(farm: Farm) -> None:
    farm.stop()
    target_down(get_device("imx6"))


def edgebench_run(farm: Farm, device: str, artifacts: Path, *more: str) -> list[str]:
    return [EDGEBENCH, "run", "--devices", str(farm.devices), "--device", device, "--model", "fd_mobilenet_0.25x",
            "--loops", "1", "--warmup", "0", "--artifacts", str(artifacts), "--store", str(farm.root / "store.sqlite3"),
            *more]
