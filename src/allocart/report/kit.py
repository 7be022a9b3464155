"""The one HTML kit of every allocart report: page, style sheet and embedded figures.

Every report (a virtual trial's, a fit's, the calibration's, a sensitivity analysis') is one
self-contained HTML file: the style sheet inline, figures embedded as PNG data URIs, no
script and nothing fetched, so a report opens offline and can be archived or mailed as it is.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any

__all__ = ["CSS", "escape", "figure", "page", "png"]

#: Shared style sheet: readable tables of rates with their intervals, captions, notes, warnings
#: and the pass/fail colouring of check tables.
CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f2f2f2}td.l,th.l{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.meta,.note{font-size:.85em;color:#444}code{font-size:.9em}
.ci{display:block;font-size:.8em;color:#666;white-space:nowrap}
.few{color:#aaa}.few .ci{color:#bbb}
table.safety{font-size:.8em}
.warning{border:1px solid #d9a400;background:#fff8e0;padding:.5em 1em;margin:1em 0}
tr.pass td.result{background:#d8f5d8}tr.fail td.result{background:#f8d0d0}
tr.pass.uninformative td.result{background:#eeeeee}
"""

escape = html.escape


def page(title: str, body: Iterable[str], *, css: str = "") -> str:
    """A complete, self-contained HTML page.

    Parameters
    ----------
    title : str
        Plain text (escaped here) for the window title.
    body : iterable of str
        HTML fragments, in order (already escaped where they hold user text).
    css : str
        Extra style rules of this report, after the shared :data:`CSS`.

    Returns
    -------
    str
    """
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='icon' href='data:,'><style>{CSS}{css}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def figure(png_bytes: bytes, alt: str, caption: str, fig_id: str | None = None) -> str:
    """A figure embedded as a PNG data URI, with its caption."""
    data = base64.b64encode(png_bytes).decode("ascii")
    ident = f' id="{escape(fig_id)}"' if fig_id else ""
    return (
        f'<figure{ident}><img class="figure" alt="{escape(alt)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def png(fig: Any, *, dpi: int = 110) -> bytes:
    """PNG bytes of a matplotlib figure, which is closed afterwards."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()
