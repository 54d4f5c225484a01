"""A library item as a file to download: its Markdown as written, or HTML
rendered from it and sanitised, named after its title."""
import html
import re
import unicodedata
import urllib.parse

from chalicelib import content, contract
from chalicelib.errors import ApiError
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
</head>
<body>
{body}</body>
</html>
"""


def export(user: dict, content_id: str, params: dict):
    """(text, headers) of the user's item in the asked format (md by default)."""
    chosen = params.get("format", "md")
    if chosen not in contract.EXPORT_FORMATS:
        raise ApiError(400, contract.UNKNOWN_FORMAT)
    item = content.owned(user, content_id)
    text = item["body"] if chosen == "md" else PAGE.format(
        title=html.escape(item["title"]), body=render(item["body"]))
    return text, {"Content-Type": contract.EXPORT_FORMATS[chosen],
                  "Content-Disposition": disposition(item["title"], chosen)}


def render(markdown: str) -> str:
    """Markdown as HTML that cannot run script: raw HTML in the text is
    escaped by the renderer, and what it produces is cleaned by an
    allow-list sanitiser all the same. Both are imported here, on the one
    route that needs them (~100 ms), not on every cold start."""
    import markdown_it
    import nh3

    rendered = markdown_it.MarkdownIt("commonmark", {"html": False}).enable("table").render(
        markdown)
    return nh3.clean(rendered)


def disposition(title: str, extension: str) -> str:
    """An attachment named from the title: an ASCII fallback for old
    clients and the UTF-8 name (RFC 6266) for the rest."""
    ascii_name = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower()[:80] or "content"
    utf8_name = urllib.parse.quote(f"{title.strip()[:80] or 'content'}.{extension}", safe="")
    return f"attachment; filename=\"{slug}.{extension}\"; filename*=UTF-8''{utf8_name}"

