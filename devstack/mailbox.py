"""The local stack's mail: an embedded SMTP server (aiosmtpd) that keeps
each message in a folder (`.data/mail/`), and a page that shows them at
/_mail (/_mail/messages.json for scripts), so a reset link can be followed
offline. Local only: in AWS, mail goes through SES."""
import html
import json
import logging
import re
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller

from devstack import services

PAGE = "/_mail"
MESSAGES = "/_mail/messages.json"
LINK = re.compile(r"https?://[^\s<>\"]+")
# aiosmtpd logs every connection at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class _Keeper:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class Mailbox:
    """The SMTP server as a started service (name, url, stop), like the others."""
    name = "smtp"

    def __init__(self, folder: Path):
        self.folder = folder
        self._controller = Controller(_Keeper(folder), hostname="127.0.0.1",
                                      port=services.free_port())
        self.url = f"smtp://127.0.0.1:{self._controller.port}"

    def start(self):
        self._controller.start()
        return self

    def stop(self):
        self._controller.stop()


def messages(folder: Path) -> list:
    """Every message kept, newest first."""
    found = []
    for path in sorted(folder.glob("*.eml"), reverse=True):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        found.append({"id": path.stem, "from": message["From"], "to": message["To"],
                      "subject": message["Subject"],
                      "text": message.get_body(("plain",)).get_content()})
    return found


def asgi(folder: Path, other_app):
    """/_mail and /_mail/messages.json in front of `other_app`."""

    async def app(scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in (PAGE, MESSAGES):
            await other_app(scope, receive, send)
            return
        if scope["path"] == MESSAGES:
            body, kind = json.dumps(messages(folder)).encode(), "application/json"
        else:
            body, kind = _page(messages(folder)).encode(), "text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    return app


def _page(found):
    items = "".join(
        f"<article><h2>{html.escape(m['subject'] or '')}</h2>"
        f"<p>To {html.escape(m['to'] or '')}, from {html.escape(m['from'] or '')}</p>"
        f"<pre>{_linked(m['text'])}</pre></article>" for m in found)
    return ("<!doctype html><meta charset=utf-8><title>Local mailbox</title>"
            "<h1>Local mailbox</h1><p>Mail the local stack sent, newest first.</p>"
            + (items or "<p>No mail yet.</p>"))


def _linked(text):
    escaped = html.escape(text)
    return LINK.sub(lambda match: f'<a href="{match.group(0)}">{match.group(0)}</a>', escaped)
