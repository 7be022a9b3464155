"""The shared HTML kit: self-contained pages with embedded figures, user text escaped."""

from __future__ import annotations

import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from allocart.report import kit


def test_page_is_self_contained_and_escapes_the_title():
    doc = kit.page("<b>trial</b> & co", ["<h1>x</h1>"], css="h1{color:red}")
    assert doc.startswith("<!DOCTYPE html>")
    assert "<title>&lt;b&gt;trial&lt;/b&gt; &amp; co</title>" in doc
    assert "h1{color:red}" in doc and kit.CSS.strip()[:20] in doc
    assert "<script" not in doc
    assert not re.search(r"(src|href)=['\"]https?:", doc)


def test_figure_embeds_a_decodable_png():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    data = kit.png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.get_fignums()  # the figure was closed
    html = kit.figure(data, 'alt "x"', "caption <1>", "fig-1")
    payload = re.search(r"base64,([A-Za-z0-9+/=]+)", html).group(1)
    assert base64.b64decode(payload) == data
    assert 'alt="alt &quot;x&quot;"' in html and "caption &lt;1&gt;" in html
    assert 'id="fig-1"' in html
