"""Check-in at the venue: scanner page, check-in API, offline sync, staff links, name tags, reception list."""
