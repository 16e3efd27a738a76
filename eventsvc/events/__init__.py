"""Events, participation types, agenda, public pages, iCalendar and QR posters."""
