"""QR codes decode to what they carry (zxing-cpp)."""

import io

import zxingcpp
from PIL import Image

from eventsvc.events.poster import qr_png, qr_svg


def test_png_decodes_to_the_url():
    url = "http://127.0.0.1:8000/events/naha-study-session"
    img = Image.open(io.BytesIO(qr_png(url)))
    assert zxingcpp.read_barcodes(img)[0].text == url


def test_inline_svg_is_a_path_with_a_viewbox_and_a_name():
    svg = qr_svg("https://example.lg.jp/e/x", label='QR "x" <y>')
    assert svg.startswith("<svg ") and "viewBox" in svg and "<path" in svg
    assert 'aria-label="QR &quot;x&quot; &lt;y>"' in svg
    assert "<?xml" not in svg
