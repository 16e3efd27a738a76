"""Marking text for the English catalogue where it is defined, translating it where it is shown.

Pure: imports nothing. Some Japanese text has to stay Japanese where it is defined (an API
``message``, a label table read by several pages, an e-mail subject used with ``force_locale``)
but is also shown on pages. Wrap it in :func:`N_` so ``pybabel extract`` collects it (``N_`` is
one of Babel's default keywords), and call ``gettext(text)`` where a page shows it.
"""

from __future__ import annotations

__all__ = ["N_"]


def N_(message: str) -> str:
    """``message`` unchanged; only marks it for extraction into the catalogue."""
    return message
