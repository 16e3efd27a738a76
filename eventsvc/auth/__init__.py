"""Organizer accounts, API tokens and (later) event staff links."""
