"""Audit log: who (an organizer, event staff, the system) did what, to what, and when.

Low in the layering (beside ``auth``): it knows organizers, and learns about everything
above it through hooks (:func:`service.register_actor_resolver`,
:func:`service.register_event_resolver`). Entries never carry attendees' personal data.
"""
