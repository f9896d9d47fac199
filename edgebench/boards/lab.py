"""A labgrid coordinator, as edgebench talks to it: places and their NetworkService, reservations (the
coordinator's queue), acquire and release. The only module that imports labgrid (an optional extra).

A process keeps one client session per coordinator, made on first use and kept (remade if the coordinator
went away): the coordinator tells clients apart by their connection, and gRPC shares one connection between
the channels of a process, so a second concurrent session would be refused. A held place needs no session
(the coordinator keeps a place acquired, and its reservation, until they are released).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from edgebench.errors import EdgebenchError

INSTALL_HINT = "pip install edgebench[labgrid]"
T = TypeVar("T")
_RPC_TIMEOUT_S = 15.0


def require_labgrid(device: str) -> None:
    """One line instead of an ImportError when the optional extra is missing."""
    try:
        import labgrid.remote.client  # noqa: F401
    except ImportError:
        raise EdgebenchError(f"device {device!r} is a labgrid place, and labgrid is not installed",
                             hint=INSTALL_HINT) from None


class Queue(Enum):
    """A reservation's state, as the coordinator names it (labgrid.remote.common.ReservationState)."""

    WAITING = "waiting"
    ALLOCATED = "allocated"
    ACQUIRED = "acquired"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class Service:
    """A place's NetworkService: where its board answers SSH."""

    address: str
    port: int
    username: str


@dataclass(frozen=True)
class PlaceInfo:
    name: str
    tags: dict[str, str]
    acquired_by: str | None  # "host/user" as labgrid records it
    changed: float  # when it was last acquired, released or edited (epoch seconds)
    reservation: str | None  # the token it is allocated to

    def matches(self, wanted: dict[str, str]) -> bool:
        """The coordinator's own rule: every wanted tag is the place's ("name" is the place's name)."""
        tags = {**self.tags, "name": self.name}
        return all(tags.get(k) == v for k, v in wanted.items())

    def holder(self) -> str:
        return f"{self.acquired_by} since {datetime.fromtimestamp(self.changed):%H:%M:%S}"


@dataclass(frozen=True)
class Ticket:
    """One reservation in the coordinator's queue."""

    token: str
    owner: str
    state: Queue
    wanted: dict[str, str]
    place: str | None  # once allocated
    order: tuple[float, float]  # (-prio, created): the coordinator serves the lowest first


class Lab:
    """The process's client session with a coordinator (made on first use, kept for the next Lab)."""

    def __init__(self, address: str):
        from labgrid.remote.client import Error

        self.address = address
        _quiet_client_log()
        try:
            self._session = _run(_session_for(address))
        except (Error, OSError) as exc:
            raise EdgebenchError(f"the labgrid coordinator at {address} does not answer ({_text(exc)})",
                                 hint="is labgrid-coordinator running there? (--coordinator, LG_COORDINATOR or "
                                      "the entry's labgrid.coordinator names it)") from None
        self.identity = f"{self._session.gethostname()}/{self._session.getuser()}"

    # -- what the coordinator knows ------------------------------------------------------------------------
    def places(self) -> list[PlaceInfo]:
        return _on_loop(lambda: [PlaceInfo(name=p.name, tags=dict(p.tags), acquired_by=p.acquired, changed=p.changed,
                                           reservation=p.reservation) for p in self._session.places.values()])

    def place(self, name: str) -> PlaceInfo | None:
        return next((p for p in self.places() if p.name == name), None)

    def service(self, place: str) -> Service:
        """The NetworkService of `place`, as its exporter publishes it (readable by anyone, held or not)."""
        return _on_loop(lambda: self._service(place))

    def _service(self, place: str) -> Service:
        session = self._session
        found = session.places.get(place)
        if found is None:
            raise EdgebenchError(f"labgrid place {place} does not exist at {self.address}",
                                 hint=f"labgrid-client -x {self.address} places")
        services = []
        for exporter, groups in session.resources.items():
            for group, resources in groups.items():
                for name, entry in resources.items():
                    if entry.cls == "NetworkService" and found.hasmatch((exporter, group, entry.cls, name)):
                        services.append(entry)
        if not services:
            raise EdgebenchError(f"labgrid place {place} has no NetworkService: edgebench reaches its board over SSH",
                                 hint=f"labgrid-client -x {self.address} -p {place} add-match "
                                      "EXPORTER/GROUP/NetworkService")
        if not services[0].avail:
            raise EdgebenchError(f"the NetworkService of labgrid place {place} is not available (its exporter is gone?)",
                                 hint=f"labgrid-client -x {self.address} resources -v")
        args = services[0].args
        return Service(address=args["address"], port=int(args.get("port", 22)), username=args["username"])

    def tickets(self) -> list[Ticket]:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        reply = self._call(self._session.stub.GetReservations, pb.GetReservationsRequest())
        return [_ticket(r) for r in reply.reservations]

    # -- the queue ---------------------------------------------------------------------------------------------
    def reserve(self, wanted: dict[str, str]) -> Ticket:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        request = pb.CreateReservationRequest(filters={"main": pb.Reservation.Filter(filter=wanted)}, prio=0.0)
        return _ticket(self._call(self._session.stub.CreateReservation, request).reservation)

    def poll(self, token: str) -> Ticket:
        """The reservation now; polling also keeps a waiting one from expiring (60 s without a poll)."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        return _ticket(self._call(self._session.stub.PollReservation, pb.PollReservationRequest(token=token)).reservation)

    def cancel(self, token: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._call(self._session.stub.CancelReservation, pb.CancelReservationRequest(token=token))

    # -- holding a place ---------------------------------------------------------------------------------------
    def acquire(self, place: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._call(self._session.stub.AcquirePlace, pb.AcquirePlaceRequest(placename=place))
        self._sync()

    def release(self, place: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._call(self._session.stub.ReleasePlace, pb.ReleasePlaceRequest(placename=place))
        self._sync()

    def wait(self, seconds: float) -> None:
        """Sleep while the session keeps receiving the coordinator's place updates (on its loop's thread)."""
        time.sleep(seconds)

    def _sync(self) -> None:
        _run(self._session.sync_with_coordinator())

    def _call(self, method, request) -> Any:
        import grpc

        try:
            return _run(_rpc(method, request))
        except grpc.aio.AioRpcError as exc:
            raise EdgebenchError(f"the labgrid coordinator at {self.address} refused: {exc.details()}") from None


# One event loop for every Lab of the process, run by a thread of its own: gRPC's asyncio channels bind to
# the loop current where they are made, so a loop per calling thread (`edgebench devices` probes boards from
# a pool) or a closed one sends their callbacks astray. A caller waits on the result, and Ctrl-C interrupts
# that wait at once.
_LOOP_LOCK = threading.Lock()
_LOOP: list[asyncio.AbstractEventLoop] = []


def _loop() -> asyncio.AbstractEventLoop:
    with _LOOP_LOCK:
        if not _LOOP:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="labgrid-client", daemon=True).start()
            _LOOP.append(loop)
        return _LOOP[0]


def _run(coroutine):
    return asyncio.run_coroutine_threadsafe(coroutine, _loop()).result()


async def _rpc(method, request):
    """A gRPC call made and awaited on the loop's thread (its call object binds to the loop it is made on)."""
    return await method(request, timeout=_RPC_TIMEOUT_S)


def _on_loop(read: Callable[[], T]) -> T:
    """`read()` on the loop's thread: the session's places and resources change there as updates arrive."""

    async def call() -> T:
        return read()

    return _run(call())


# coordinator address -> the task starting its labgrid ClientSession (a concurrent Lab awaits the same start);
# touched on the loop's thread only.
_SESSIONS: dict[str, asyncio.Task] = {}


async def _session_for(address: str):
    """The live session with `address`, started as labgrid's start_session does (HOST alone: its default
    port) on the shared loop, or restarted when the coordinator went away since."""
    task = _SESSIONS.get(address)
    if task is not None and task.done() and (task.exception() is not None or task.result().stopping.is_set()):
        if task.exception() is None:
            await task.result().close()
        task = None
    if task is None:
        task = _SESSIONS[address] = asyncio.ensure_future(_start_session(address))
    return await task


async def _start_session(address: str):
    from labgrid.remote.client import ClientSession
    from labgrid.util.proxy import proxymanager

    session = ClientSession(proxymanager.get_grpc_address(address, default_port=20408), asyncio.get_running_loop())
    await session.start()
    return session


def _ticket(message) -> Ticket:
    from labgrid.remote.common import Reservation

    res = Reservation.from_pb2(message)
    allocated = res.allocations.get("main") or [None]
    return Ticket(token=res.token, owner=res.owner, state=Queue(res.state.name), wanted=dict(res.filters.get("main", {})),
                  place=allocated[0], order=(-res.prio, res.created))


def _text(exc: Exception) -> str:
    return " ".join(str(a) for a in exc.args) or type(exc).__name__


class _LabgridClientLog(logging.Filter):
    """labgrid's client logs a lost coordinator on the root logger (printed, with no handler, by logging's
    last resort); edgebench says it once, as its own one-line error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}labgrid{os.sep}" not in record.pathname


def _quiet_client_log() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _LabgridClientLog) for f in root.filters):
        root.addFilter(_LabgridClientLog())
