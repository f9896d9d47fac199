"""Getting a labgrid place and giving it back: a reservation in the coordinator's queue (a named place is
the filter name=PLACE, which its scheduler matches), a visible line while it waits, the acquire, and the
release with the reservation cancelled (an acquired reservation never expires by itself).

A place that a killed edgebench left acquired is named, with the labgrid-client commands that free it,
instead of being waited for forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgebench.boards import holds
from edgebench.boards.devices import LabgridPlace
from edgebench.boards.interrupts import interrupts_held
from edgebench.boards.lab import Lab, PlaceInfo, Queue, Service, Ticket
from edgebench.errors import EdgebenchError

POLL_S = 1.0  # labgrid-client's own interval; a poll also keeps the waiting reservation alive


@dataclass(frozen=True)
class Held:
    """A place this process holds."""

    coordinator: str
    place: str
    token: str
    service: Service
    record: holds.HoldRecord


def free_command(coordinator: str, place: str, token: str | None) -> str:
    command = f"labgrid-client -x {coordinator} -p {place} release"
    return command + (f" && labgrid-client -x {coordinator} cancel-reservation {token}" if token else "")


def hold_place(coordinator: str, spec: LabgridPlace, device: str, *, wait: bool,
               on_wait: Callable[[str], None]) -> Held:
    """Reserve a place `spec` matches, wait for it in the queue (unless `wait` is False), acquire it."""
    wanted, what = spec.wanted, (f"place {spec.place}" if spec.place else f"a {spec.describe()}")
    ticket: Ticket | None = None
    held: Held | None = None
    try:
        lab = Lab(coordinator)
        if not _matching(lab, wanted):
            known = ", ".join(sorted(p.name for p in lab.places())) or "none"
            raise EdgebenchError(f"{device}: no labgrid place at {coordinator} matches {what} (places: {known})",
                                 hint=f"labgrid-client -x {coordinator} -p PLACE set-tags KEY=VALUE"
                                 if spec.tags else f"labgrid-client -x {coordinator} places")
        ticket = lab.reserve(wanted)
        shown: set[str] = set()
        while ticket.state is Queue.WAITING:
            matching = _matching(lab, wanted)
            if not wait:
                raise EdgebenchError(f"{device}: every labgrid place matching {spec.describe()} is in use "
                                     f"({_in_use(matching)})", hint="leave out --no-wait to wait in labgrid's queue")
            for line in _waiting_lines(lab, coordinator, ticket, matching, what):
                if line not in shown:
                    on_wait(line)
                    shown.add(line)
            lab.wait(POLL_S)
            ticket = lab.poll(ticket.token)
        if ticket.state is not Queue.ALLOCATED:
            raise EdgebenchError(f"{device}: labgrid reservation {ticket.token} for {what} is {ticket.state.value}")
        service = lab.service(ticket.place)
        # The acquire and its record are one step, never cut in half by Ctrl-C; the record is written
        # first: a run killed between the two would leave a place nobody can name.
        with interrupts_held():
            record = holds.write(coordinator, ticket.place, ticket.token)
            try:
                lab.acquire(ticket.place)
            except BaseException:
                holds.remove(record)
                raise
            held = Held(coordinator, ticket.place, ticket.token, service, record)
        return held
    except BaseException:
        if held is not None:  # interrupted right after the acquire
            release_place(held)
        elif ticket is not None:
            with interrupts_held():
                _cancel(coordinator, ticket.token)
        raise


def release_place(held: Held) -> str | None:
    """Release the place and cancel its reservation; None when done, else the one line saying what was
    left held and the command that frees it (the caller is on its way out: only a Ctrl-C or SIGTERM that
    arrived meanwhile is raised, once done)."""
    with interrupts_held():
        try:
            lab = Lab(held.coordinator)
            place = lab.place(held.place)
            ours = place is not None and place.acquired_by == lab.identity and place.reservation == held.token
            # The reservation first: released before it, the place would sit allocated to it for a moment.
            if any(t.token == held.token for t in lab.tickets()):
                lab.cancel(held.token)
            if ours:
                lab.release(held.place)
        except EdgebenchError as exc:
            return (f"labgrid place {held.place} may still be held ({exc.message}); free it: "
                    f"{free_command(held.coordinator, held.place, held.token)}")
        holds.remove(held.record)
    return None


def _cancel(coordinator: str, token: str) -> None:
    """Drop a reservation not (or no longer) needed; a coordinator gone by now drops it itself (60 s)."""
    try:
        lab = Lab(coordinator)
        if any(t.token == token for t in lab.tickets()):
            lab.cancel(token)
    except EdgebenchError:
        pass


def _matching(lab: Lab, wanted: dict[str, str]) -> list[PlaceInfo]:
    return [p for p in lab.places() if p.matches(wanted)]


def _in_use(places: list[PlaceInfo]) -> str:
    busy = [f"{p.name} by {p.holder()}" if p.acquired_by else f"{p.name} allocated to another reservation"
            for p in places]
    return "; ".join(busy)


def _waiting_lines(lab: Lab, coordinator: str, ticket: Ticket, matching: list[PlaceInfo], what: str) -> list[str]:
    """What a waiting run shows: its place in the queue and who holds the places, or why waiting is futile."""
    stale = []
    for place in matching:
        record = holds.read(coordinator, place.name)
        if (place.acquired_by == lab.identity and record is not None and record.token == place.reservation
                and not record.alive()):
            stale.append((place, record))
    if stale and len(stale) == len(matching):  # nothing this run waits for would ever be released
        raise EdgebenchError("; ".join(f"labgrid place {p.name} is still acquired by an edgebench that is gone "
                                       f"({r.describe()})" for p, r in stale),
                             hint="free it: " + " && ".join(free_command(coordinator, p.name, r.token) for p, r in stale))
    named = [f"labgrid place {p.name} is still acquired by an edgebench that is gone ({r.describe()}); free it: "
             f"{free_command(coordinator, p.name, r.token)}" for p, r in stale]
    ahead = sum(1 for t in lab.tickets()
                if t.state is Queue.WAITING and t.order < ticket.order and any(p.matches(t.wanted) for p in matching))
    return [*named, f"waiting for {what}: {ahead} ahead ({_in_use(matching)})"]
