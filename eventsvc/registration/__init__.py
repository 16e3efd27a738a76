"""Registration: capacity, waitlist, review, lottery, tickets, attendee self-service, e-mails."""
