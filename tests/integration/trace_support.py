"""What a request sends to PostgreSQL, counted in round trips (libpq's protocol trace)."""

from __future__ import annotations

import tempfile

from psycopg import pq
from sqlalchemy import event as sa_event

from eventsvc.extensions import db


def round_trips_of(call) -> list[list[str]]:
    """PostgreSQL: what ``call`` sent, as libpq's protocol trace shows it (statements run in
    psycopg's pipeline mode included), one list of statements per round trip (a statement
    prepared earlier shows as ``<prepared>``: psycopg then sends no text)."""

    db.session.commit()
    with tempfile.TemporaryFile("w+") as trace:

        def on_checkout(dbapi_connection, _record, _proxy):
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        def on_checkin(dbapi_connection, _record):
            dbapi_connection.pgconn.untrace()

        sa_event.listen(db.engine, "checkout", on_checkout)
        sa_event.listen(db.engine, "checkin", on_checkin)
        try:
            status = call().status_code
            assert status in (200, 201), status
        finally:
            sa_event.remove(db.engine, "checkout", on_checkout)
            sa_event.remove(db.engine, "checkin", on_checkin)
        trace.seek(0)
        lines = trace.read().splitlines()
    records: list[str] = []  # one per protocol message; a statement's text may span lines
    for line in lines:
        if line[:2] in ("F\t", "B\t") or not records:
            records.append(line)
        else:
            records[-1] += " " + line
    trips: list[list[str]] = [[]]
    prepared: dict[str, str] = {}  # statement name → text, for those prepared while tracing
    for record in records:
        parts = record.split("\t")
        if len(parts) < 3 or parts[0] != "F":
            continue
        message, quoted = parts[2], "\t".join(parts[3:]).split('"')
        if message == "Query":  # the simple protocol: one statement, one round trip
            trips[-1].append(quoted[1])
            trips.append([])
        elif message == "Parse":  # ' "<name>" "<statement>" …': the extended protocol, up to a Sync
            text = " ".join(quoted[3].split())
            if quoted[1]:
                prepared[quoted[1]] = text
            else:
                trips[-1].append(text)
        elif message == "Bind" and quoted[3]:  # ' "<portal>" "<statement name>" …': a prepared statement
            trips[-1].append(prepared.get(quoted[3], "<prepared>"))
        elif message == "Sync" and trips[-1]:
            trips.append([])
    return [trip for trip in trips if trip]


def without_ping(trips: list[list[str]]) -> tuple[list[list[str]], bool]:
    """``trips`` without a leading ping of the pool (``SELECT 1`` on a connection idle for over
    ``database.PING_AFTER_IDLE``, which a slow machine may reach between two calls of a test), and
    whether there was one (its trip carries the transaction's BEGIN then)."""
    if trips and trips[0][-1] == "SELECT 1" and len(trips[0]) <= 2:
        return trips[1:], True
    return trips, False

