"""A loopback labgrid farm for the tests: a real labgrid-coordinator on 127.0.0.1, a real labgrid-exporter
exporting the project's own emulated imx6 target (its private sshd) as NetworkService places, the places
created and tagged with labgrid-client as a lab's admin would, and a devices.yaml whose entries name them.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from edgebench.boards.devices import get_device
from edgebench.boards.lab import Lab, PlaceInfo
from edgebench.boards.sshd import free_port
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


def start_farm(root: Path) -> Farm:
    """Coordinator + exporter + places imx6-a (board=imx6, the imx6 target's sshd) and rpi4-a (board=rpi4, a
    place nothing here runs on: tags must choose). EDGEBENCH_DATA must point under `root` already."""
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
        exported = {"imx6-a": {"NetworkService": {"address": "127.0.0.1", "username": user, "port": status.port}},
                    "rpi4-a": {"NetworkService": {"address": "127.0.0.1", "username": user, "port": free_port()}}}
        (root / "exporter.yaml").write_text(yaml.safe_dump(exported))
        processes.append(subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", address, "--name", "farm",
                                           str(root / "exporter.yaml")], cwd=root,
                                          stdout=open(root / "exporter.log", "w"), stderr=subprocess.STDOUT))
        _wait_for(lambda: "farm/imx6-a/NetworkService" in farm.client("resources").stdout, "the exporter")
        for place, board in (("imx6-a", "imx6"), ("rpi4-a", "rpi4")):
            farm.client("-p", place, "create")
            farm.client("-p", place, "add-match", f"farm/{place}/NetworkService")
            farm.client("-p", place, "set-tags", f"board={board}")
        target = state_dir(imx6)
        lab_entry = {**IMX6, "workdir": str(root / "lab-workdir"),
                     "connection": {"identity_file": str(target / "client_ed25519"),
                                    "known_hosts": str(target / "known_hosts"), "ssh_config": "none"}}
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
