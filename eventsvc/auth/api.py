"""Bearer auth for organizers in the JSON API."""

from ..jsonapi import register_auth
from .service import resolve_token

register_auth("organizer", resolve_token)
