"""QR codes for posters, slides and tickets, built with ``qrcode``.

Pure: URL or code in, SVG text or PNG bytes out. Inline SVG uses ``SvgPathImage``
(one ``<path>`` with a ``viewBox``: it renders inside HTML and scales with CSS).
"""

from __future__ import annotations

import io
import re

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _qr(data: str, border: int = 4) -> qrcode.QRCode:
    q = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=border)
    q.add_data(data)
    q.make(fit=True)
    return q


def qr_svg(data: str, *, label: str = "", css_class: str = "qr") -> str:
    """An inline ``<svg>`` (no XML declaration) with an accessible name."""
    img = _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode("utf-8")
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r'\swidth="[^"]*"\s+height="[^"]*"', "", svg, count=1)
    esc = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg ", f'<svg class="{css_class}" role="img" aria-label="{esc}" ', 1)


def qr_svg_document(data: str) -> bytes:
    """A standalone SVG file for download."""
    img = _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


def qr_png(data: str, *, box_size: int = 12) -> bytes:
    q = _qr(data)
    q.box_size = box_size
    buf = io.BytesIO()
    q.make_image().save(buf, format="PNG")
    return buf.getvalue()
