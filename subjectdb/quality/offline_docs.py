"""GX Data Docs that open with no network: their CDN asset references rewritten to vendored
local copies (``subjectdb/quality/vendor/``, licences beside each file).

Great Expectations renders every Data Docs page with ``<script>``/``<link>`` tags pointing at
public CDNs; on a closed network the pages stay blank. :func:`make_offline` copies the
vendored files into ``<docs>/static/vendor/`` and rewrites each page's references to relative
paths; assets the project does not need (Vega charts, Font Awesome, the dark-mode stylesheet)
are removed, and the logo comes from the docs' own ``static/images``. Safe to repeat: a page
already rewritten has nothing left to replace.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"

LOCAL: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/bootstrap.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/popper.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": ("bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": ("bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css"),
}
"""CDN address → vendored file (under :data:`VENDOR`)."""

DROPPED = (
    "https://cdn.jsdelivr.net/npm/vega@5",
    "https://cdn.jsdelivr.net/npm/vega-lite@5",
    "https://cdn.jsdelivr.net/npm/vega-embed@6",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css",
)
"""Assets removed from the pages (not needed by this project's Data Docs)."""

_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[^\"']+/logo-long\.png[^\"']*")
_TAG = r"<(?:script|link)\b[^>]*?(?:src|href)=[\"']{url}[\"'][^>]*?>(?:\s*</script>)?"
_FETCH = re.compile(r"(?:src|href)=[\"'](https?://[^\"']+)[\"']")


def _rewrite(html: str, prefix: str) -> str:
    for url in DROPPED:
        html = re.sub(_TAG.format(url=re.escape(url)), "", html)
    for url, local in LOCAL.items():
        html = html.replace(url, f"{prefix}static/vendor/{local}")
    return _LOGO.sub(f"{prefix}static/images/logo-long.png", html)


def remote_assets(html: str) -> list[str]:
    """Addresses a page would fetch from the network: scripts, stylesheets and images (links
    a reader may follow, ``<a href>``, are not fetched)."""
    out = []
    for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", html):
        if tag.startswith("<link") and "stylesheet" not in tag:
            continue
        out += _FETCH.findall(tag)
    return out


def make_offline(docs: Path) -> int:
    """Rewrite every Data Docs page under ``docs`` to vendored assets; returns the number of
    pages changed."""
    if not docs.is_dir():
        return 0
    target = docs / "static" / "vendor"
    shutil.copytree(VENDOR, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    changed = 0
    for page in docs.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        rel = os.path.relpath(docs, page.parent)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        new = _rewrite(text, prefix)
        if new != text:
            tmp = page.with_suffix(".html.tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(page)
            changed += 1
    return changed
