"""The user's content library."""
import re

from chalicelib import clock, contract, db, pages, storage, validation
from chalicelib.errors import ApiError

EDITABLE = ("title", "type", "body")


def listing(request, params: dict) -> tuple:
    """GET /content: (the request's user's items, newest first, all of them
    or the page asked for; the next page's cursor or None). With `search`,
    those whose title, type or body contains it, in any case."""
    return pages.listing(request, params, "contents", contract.CONTENT, _matcher)


def _matcher(params):
    """Whether an item matches the search: in Python, because the embedded
    server scans the whole collection for any query with a top-level $or."""
    search = params.get("search")
    term = validation.string("search", search).strip() if search is not None else ""
    if not term:
        return lambda item: True
    pattern = re.compile(re.escape(term), re.IGNORECASE)
    return lambda item: any(pattern.search(item[field]) for field in EDITABLE)


def create(user: dict, body: dict) -> dict:
    fields = validation.required_strings(body, EDITABLE, contract.MISSING_FIELDS)
    return contract.CONTENT(insert(user, fields["title"], fields["type"], fields["body"]))


def insert(user: dict, title: str, content_type: str, text: str) -> dict:
    """Store a new item in the user's library, within its caps."""
    validation.content_type(content_type, contract.INVALID_CONTENT_TYPE)
    moment = clock.now()
    item = {"userId": user["_id"], "title": title, "type": content_type, "body": text,
            "createdAt": moment, "updatedAt": moment, "__v": 0}
    storage.take(user["_id"], items=1, chars=storage.size(item))
    try:
        db.get().contents.insert_one(item)
    except Exception:
        storage.give(user["_id"], items=1, chars=storage.size(item))
        raise
    return item


def update(user: dict, content_id: str, body: dict) -> dict:
    fields = validation.strings(body, *EDITABLE)
    for name, value in fields.items():
        if not value.strip():
            raise ApiError(400, contract.cannot_be_empty(name))
    if "type" in fields:
        validation.content_type(fields["type"], contract.INVALID_CONTENT_TYPE)
    item = owned(user, content_id)
    if not fields:
        return contract.CONTENT(item)
    while True:
        changed = _change(user, item, fields)
        if changed is not None:
            return contract.CONTENT(changed)
        # Another edit came between the read and the write: start again
        # from what it left, so the library's count follows each edit.
        item = owned(user, content_id)


def _change(user, item, fields):
    """The item with `fields` set, or None if it is no longer the `item`
    read. The update is conditional on the title and body read, from which
    the change in the library's count was reckoned. An update and a read
    rather than one find_one_and_update: the embedded server re-runs a
    findAndModify's query under an $and, which scans the whole collection
    for every edit."""
    growth = storage.size({**item, **fields}) - storage.size(item)
    storage.take(user["_id"], chars=growth)
    contents = db.get().contents
    try:
        matched = contents.update_one(
            {"_id": item["_id"], "userId": user["_id"], "title": item["title"],
             "body": item["body"]},
            {"$set": {**fields, "updatedAt": clock.now()}}).matched_count
    except Exception:
        storage.give(user["_id"], chars=growth)
        raise
    if not matched:
        storage.give(user["_id"], chars=growth)
        return None
    storage.give(user["_id"], chars=-growth)
    changed = contents.find_one({"_id": item["_id"]})
    if changed is None:
        raise ApiError(404, contract.CONTENT_NOT_FOUND)
    return changed


def delete(user: dict, content_id: str) -> dict:
    item = owned(user, content_id)
    if db.get().contents.delete_one({"_id": item["_id"], "userId": user["_id"]}).deleted_count:
        storage.give(user["_id"], items=1, chars=storage.size(item))
    return {"id": str(item["_id"])}


def owned(user, content_id):
    key = db.object_id(content_id)
    item = db.get().contents.find_one({"_id": key}) if key else None
    if item is None:
        raise ApiError(404, contract.CONTENT_NOT_FOUND)
    if item["userId"] != user["_id"]:
        raise ApiError(401, contract.NOT_OWNER)
    return item
