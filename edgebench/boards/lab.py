"""A labgrid coordinator, as edgebench talks to it: places and their NetworkService, reservations (the
coordinator's queue), acquire and release. The only module that imports labgrid (an optional extra).

Each Lab is one short client session: a held place needs no open session (the coordinator keeps a place
acquired, and an acquired reservation alive, until they are released), so a run of hours keeps no idle gRPC
stream, and its release opens a session of its own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from edgebench.errors import EdgebenchError

INSTALL_HINT = "pip install edgebench[labgrid]"
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
    """One client session with a coordinator; use as a context manager."""

    def __init__(self, address: str):
        from labgrid.remote.client import Error, start_session

        self.address = address
        _quiet_client_log()
        try:
            self._session = start_session(address)
        except (Error, OSError) as exc:
            raise EdgebenchError(f"the labgrid coordinator at {address} does not answer ({_text(exc)})",
                                 hint="is labgrid-coordinator running there? (--coordinator, LG_COORDINATOR or "
                                      "the entry's labgrid.coordinator names it)") from None
        self.identity = f"{self._session.gethostname()}/{self._session.getuser()}"

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        loop = self._session.loop
        try:
            loop.run_until_complete(self._session.stop())
            loop.run_until_complete(self._session.close())
        finally:
            loop.close()

    # -- what the coordinator knows ------------------------------------------------------------------------
    def places(self) -> list[PlaceInfo]:
        return [PlaceInfo(name=p.name, tags=dict(p.tags), acquired_by=p.acquired, changed=p.changed,
                          reservation=p.reservation) for p in self._session.places.values()]

    def place(self, name: str) -> PlaceInfo | None:
        return next((p for p in self.places() if p.name == name), None)

    def service(self, place: str) -> Service:
        """The NetworkService of `place`, as its exporter publishes it (readable by anyone, held or not)."""
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
        """Sleep while the session keeps receiving the coordinator's place updates."""
        import asyncio

        self._session.loop.run_until_complete(asyncio.sleep(seconds))

    def _sync(self) -> None:
        self._session.loop.run_until_complete(self._session.sync_with_coordinator())

    def _call(self, method, request) -> Any:
        import grpc

        try:
            return self._session.loop.run_until_complete(method(request, timeout=_RPC_TIMEOUT_S))
        except grpc.aio.AioRpcError as exc:
            raise EdgebenchError(f"the labgrid coordinator at {self.address} refused: {exc.details()}") from None


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
