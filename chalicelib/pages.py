"""Paged reads. A cursor is where the next page starts, as an opaque token
the client hands back; one shape serves every paged read (the account
export and the lists): URL-safe base64 of `section:part:...`, whose section
names what is paged, so a cursor from one read is refused by another.

The lists (GET /content, GET /generate-content) page as an addition: with
`limit` or `cursor` they answer one page of the contract's array, newest
first, and name the next page in a response header; without either, the
contract's whole array."""
import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import pymongo

from chalicelib import auth, contract, db, settings, validation
from chalicelib.errors import ApiError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NEWEST_FIRST = [("createdAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]


def encode(section: str, *parts) -> str:
    return base64.urlsafe_b64encode(":".join([section, *map(str, parts)]).encode()).decode()


def decode(cursor, sections, parts: int) -> tuple:
    """(section, [part, ...]) of a cursor naming one of `sections` with
    `parts` parts; anything else is a 400."""
    validation.string("cursor", cursor)
    try:
        section, *rest = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
    except (ValueError, UnicodeError):
        raise ApiError(400, contract.INVALID_CURSOR) from None
    if section not in sections or len(rest) != parts:
        raise ApiError(400, contract.INVALID_CURSOR)
    return section, rest


@dataclass(frozen=True)
class Page:
    """A page asked for: at most `limit` items after the one `after` names
    (its createdAt and _id; None for the first page)."""
    limit: int
    after: Optional[tuple] = None

    def condition(self) -> dict:
        # Items created in the same millisecond as the last one answered are
        # told apart by _id in `follows`: an $or here would make the embedded
        # server scan the whole collection.
        return {"createdAt": {"$lte": self.after[0]}} if self.after else {}

    def follows(self, document) -> bool:
        if self.after is None:
            return True
        return _newest_first(document) < self.after


def asked(params: dict, section: str) -> Optional[Page]:
    """The page the query parameters ask for; None when they ask for none."""
    limit, cursor = params.get("limit"), params.get("cursor")
    if limit is None and cursor is None:
        return None
    most = settings.get().max_page_items
    if limit is not None and not (limit.isascii() and limit.isdigit()
                                  and 1 <= int(limit) <= most):
        raise ApiError(400, contract.bad_limit(most))
    return Page(int(limit) if limit is not None else most,
                None if cursor is None else _position(cursor, section))


def listing(request, params: dict, collection: str, view: Callable,
            matcher: Callable = lambda params: _everything) -> tuple:
    """A list route's answer: (the views of the request's user's documents
    in `collection` that `matcher(params)` matches, newest first, on the
    page asked for or all of them; the next page's cursor or None). The
    contract's answer, the whole list, is read with the token's user in one
    command; a page after the user, from where its cursor points."""
    try:
        page, matches = asked(params, collection), matcher(params)
    except ApiError:
        auth.current_user(request)  # a bad token is a 401 before a bad parameter's 400
        raise
    if page is None:
        return whole(auth.current_user_documents(request, collection), view, matches), None
    return listed(collection, auth.current_user(request), view, page, matches)


def _everything(document):
    return True


def listed(collection: str, user: dict, view: Callable, page: Page,
           matches: Callable = _everything) -> tuple:
    """(the views of the user's matching documents, newest first, on the
    page asked for; the next page's cursor or None). The query names only
    the user and, past the first page, a bound on createdAt, so it rides the
    (userId, createdAt, _id) index."""
    condition = {"userId": user["_id"], **page.condition()}
    found = db.get()[collection].find(condition).sort(NEWEST_FIRST)
    # One more than the page, so that the last page names no next one.
    found = found.batch_size(page.limit + 1)
    answered = []
    for document in found:
        if not (page.follows(document) and matches(document)):
            continue
        if len(answered) == page.limit:
            found.close()
            last = answered[-1]
            return [view(item) for item in answered], encode(
                collection, (last["createdAt"] - EPOCH) // timedelta(milliseconds=1),
                last["_id"])
        answered.append(document)
    return [view(item) for item in answered], None


def whole(documents, view: Callable, matches: Callable = _everything) -> list:
    """The views of the matching `documents`, newest first. They are sorted
    here, not by the server: a $lookup keeps no order, and the embedded
    server sorts in Python at ~0.3 ms of its CPU per 20 items."""
    found = sorted(documents, key=_newest_first, reverse=True)
    return [view(document) for document in found if matches(document)]


def _newest_first(document):
    return document["createdAt"], document["_id"]


def _position(cursor, section):
    _, (millis, last_id) = decode(cursor, (section,), parts=2)
    after = db.object_id(last_id)
    if not (millis.isascii() and millis.isdigit()) or after is None:
        raise ApiError(400, contract.INVALID_CURSOR)
    try:
        return EPOCH + timedelta(milliseconds=int(millis)), after
    except OverflowError:
        raise ApiError(400, contract.INVALID_CURSOR) from None
