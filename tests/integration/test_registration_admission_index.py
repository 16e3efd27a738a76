"""What an admission counts under the participation type's lock — seats held, people waiting,
the highest waitlist rank — is read from the index ``(ticket_type_id, status, queue_rank)``
alone, not from the registration rows: the time the lock is held grows slowly with the event."""

from __future__ import annotations

from eventsvc import database
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.registration import reuse, service

INDEX = "ix_registrations_type_status_rank"


def plan(statement, params: dict) -> str:
    """The database's plan for ``statement`` as the hot path sends it (:func:`database.first_row`);
    on PostgreSQL with seq scans and bitmap scans ruled out, as its choice on a near-empty table
    would say nothing about a full one."""
    conn = db.session.connection()
    compiled = database._compiled(conn.dialect, statement, params)
    cursor = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + compiled.sql, compiled.parameters(params))
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.parameters(params))
        rows = cursor.fetchall()
    finally:
        cursor.close()
        db.session.rollback()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_admission_counts_come_from_the_covering_index(make, organizer, backend):
    event = make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 3)])
    for i in range(5):  # 3 confirmed, 2 waitlisted
        make.registration(event, email=f"p{i}@city.naha.lg.jp")
    tt = event.ticket_types[0]
    dialect = db.session.get_bind().dialect.name
    params = {"tt_id": tt.id, "event_id": event.id, "email": "new@city.naha.lg.jp",
              "fingerprint": reuse.fingerprint_of(event) or ""}
    for statement in (service._admission_statement(False), service._admission_statement(False, dialect)):
        shown = plan(statement, params)
        if backend == "sqlite":
            assert f"SEARCH registrations USING COVERING INDEX {INDEX} (ticket_type_id=?)" in shown, shown
        else:
            assert f"Index Only Scan using {INDEX} on registrations" in shown, shown
    # and the counts read there are the admission's: 3 seats held, 2 waiting, ranks 1..2
    capacity, taken, waiting, top_rank, existing, _drawn, _id = service._admission_facts(
        event, tt, "new@city.naha.lg.jp")
    assert (capacity, taken, waiting, top_rank, existing) == (3, 3, 2, 2, None)
