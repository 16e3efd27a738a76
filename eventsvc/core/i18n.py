"""Marking text for the English catalogue where it is defined, translating it where it is shown.

Pure: imports nothing. Some Japanese text has to stay Japanese where it is defined (an API
``message``, a label table read by several pages, an e-mail subject used with ``force_locale``)
but is also shown on pages. Wrap it in :func:`N_` so ``pybabel extract`` collects it (``N_`` is
one of Babel's default keywords), and call ``gettext(text)`` where a page shows it
(``errors.page_message`` does both kinds below).

A message with values in it is a :class:`Message`, made with ``msg(N_("…%(name)s…"), name=value)``
(``N_`` on the literal itself, so that it is extracted): its ``str`` value is the Japanese
text with the values filled in — the API, logs, tests and string concatenation see exactly what
an f-string gave — and it remembers the template and the values, so that a page can show it
as ``gettext(template, **values)``.
"""

from __future__ import annotations

__all__ = ["N_", "Message", "join", "msg"]


def N_(message: str) -> str:
    """``message`` unchanged; only marks it for extraction into the catalogue."""
    return message


class Message(str):
    """Japanese text formatted from a catalogue template; remembers ``template`` and ``params``.

    Anything that makes a new string from it (``+``, ``join``, slicing, ``format``) gets a plain
    ``str``: the Japanese text, no longer translatable as a whole.
    """

    __slots__ = ("template", "params")

    template: str
    params: dict

    def __new__(cls, template: str, params: dict | None = None) -> Message:
        params = dict(params or {})
        self = super().__new__(cls, template % params if params else template)
        self.template = template
        self.params = params
        return self

    def __getnewargs__(self):
        return (self.template, self.params)

    def __reduce__(self):
        return (Message, (self.template, self.params))

    def __repr__(self) -> str:
        return f"Message({self.template!r}, {self.params!r})"


def msg(template: str, /, **params) -> Message:
    """``template % params`` as a :class:`Message`; write ``msg(N_("…%(x)s…"), x=…)``.

    ``msg(text)`` without values makes a value (e.g. an ``N_``-marked label) translatable as a
    whole where it is put into another message; a :class:`Message` is returned as it is.
    """
    if not params and isinstance(template, Message):
        return template
    return Message(template, params)


def join(parts, sep: str = " ") -> Message:
    """Several messages as one (``sep`` between them) whose parts a page still translates one by one.

    The str value is ``sep.join(parts)``; the template is only placeholders and separators, which
    the catalogue does not have, so ``gettext`` keeps it and fills in each part translated.
    """
    parts = list(parts)
    if len(parts) == 1 and isinstance(parts[0], Message):
        return parts[0]
    template = sep.replace("%", "%%").join(f"%(p{i})s" for i in range(len(parts)))
    return Message(template, {f"p{i}": p if isinstance(p, Message) else Message(p) for i, p in enumerate(parts)})
