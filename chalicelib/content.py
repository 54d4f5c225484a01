"""The user's content library."""
import re

import pymongo

from chalicelib import clock, contract, db, validation
from chalicelib.errors import ApiError

EDITABLE = ("title", "type", "body")


def list_for(user: dict, search=None) -> list:
    """The user's items, newest first; with `search`, those whose title,
    type or body contains it, in any case. The query names only the user, so
    it rides the (userId, createdAt) index on any planner and costs what
    the user's own items cost; the embedded server scans the whole
    collection for any query with a top-level $or, such as the search's."""
    matches = _matcher(search)
    cursor = db.get().contents.find({"userId": user["_id"]}).sort(
        [("createdAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
    return [contract.CONTENT(item) for item in cursor if matches(item)]


def _matcher(search):
    term = validation.string("search", search).strip() if search is not None else ""
    if not term:
        return lambda item: True
    pattern = re.compile(re.escape(term), re.IGNORECASE)
    return lambda item: any(pattern.search(item[field]) for field in EDITABLE)


def create(user: dict, body: dict) -> dict:
    fields = validation.required_strings(body, EDITABLE, contract.MISSING_FIELDS)
    return contract.CONTENT(insert(user, fields["title"], fields["type"], fields["body"]))


def insert(user: dict, title: str, content_type: str, text: str) -> dict:
    validation.content_type(content_type, contract.INVALID_CONTENT_TYPE)
    moment = clock.now()
    item = {"userId": user["_id"], "title": title, "type": content_type, "body": text,
            "createdAt": moment, "updatedAt": moment, "__v": 0}
    db.get().contents.insert_one(item)
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
    # An update and a read rather than one find_one_and_update: the embedded
    # server re-runs a findAndModify's query under an $and, which scans the
    # whole collection for every edit.
    contents = db.get().contents
    if contents.update_one({"_id": item["_id"], "userId": user["_id"]},
                           {"$set": {**fields, "updatedAt": clock.now()}}).matched_count == 0:
        raise ApiError(404, contract.CONTENT_NOT_FOUND)
    changed = contents.find_one({"_id": item["_id"]})
    if changed is None:
        raise ApiError(404, contract.CONTENT_NOT_FOUND)
    return contract.CONTENT(changed)


def delete(user: dict, content_id: str) -> dict:
    item = owned(user, content_id)
    db.get().contents.delete_one({"_id": item["_id"], "userId": user["_id"]})
    return {"id": str(item["_id"])}


def owned(user, content_id):
    key = db.object_id(content_id)
    item = db.get().contents.find_one({"_id": key}) if key else None
    if item is None:
        raise ApiError(404, contract.CONTENT_NOT_FOUND)
    if item["userId"] != user["_id"]:
        raise ApiError(401, contract.NOT_OWNER)
    return item
