"""The user's content library."""
import re

import pymongo

from chalicelib import clock, db, validation
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
    return [public(item) for item in cursor if matches(item)]


def _matcher(search):
    term = validation.string("search", search).strip() if search is not None else ""
    if not term:
        return lambda item: True
    pattern = re.compile(re.escape(term), re.IGNORECASE)
    return lambda item: any(pattern.search(item[field]) for field in EDITABLE)


def create(user: dict, body: dict) -> dict:
    fields = validation.required_strings(body, EDITABLE, "Please provide all fields")
    return public(insert(user, fields["title"], fields["type"], fields["body"]))


def insert(user: dict, title: str, content_type: str, text: str) -> dict:
    if content_type not in validation.CONTENT_TYPES:
        raise ApiError(400, "Invalid content type")
    moment = clock.now()
    item = {"userId": user["_id"], "title": title, "type": content_type, "body": text,
            "createdAt": moment, "updatedAt": moment, "__v": 0}
    db.get().contents.insert_one(item)
    return item


def update(user: dict, content_id: str, body: dict) -> dict:
    fields = validation.strings(body, *EDITABLE)
    for name, value in fields.items():
        if not value.strip():
            raise ApiError(400, f"{name} cannot be empty")
    if "type" in fields and fields["type"] not in validation.CONTENT_TYPES:
        raise ApiError(400, "Invalid content type")
    item = owned(user, content_id)
    if not fields:
        return public(item)
    # An update and a read rather than one find_one_and_update: the embedded
    # server re-runs a findAndModify's query under an $and, which scans the
    # whole collection for every edit.
    contents = db.get().contents
    if contents.update_one({"_id": item["_id"], "userId": user["_id"]},
                           {"$set": {**fields, "updatedAt": clock.now()}}).matched_count == 0:
        raise ApiError(404, "Content not found")
    changed = contents.find_one({"_id": item["_id"]})
    if changed is None:
        raise ApiError(404, "Content not found")
    return public(changed)


def delete(user: dict, content_id: str) -> dict:
    item = owned(user, content_id)
    db.get().contents.delete_one({"_id": item["_id"], "userId": user["_id"]})
    return {"id": str(item["_id"])}


def public(item: dict) -> dict:
    return {
        "_id": str(item["_id"]),
        "userId": str(item["userId"]),
        "title": item["title"],
        "type": item["type"],
        "body": item["body"],
        "createdAt": clock.iso(item["createdAt"]),
        "updatedAt": clock.iso(item["updatedAt"]),
        "__v": item.get("__v", 0),
    }


def owned(user, content_id):
    key = db.object_id(content_id)
    item = db.get().contents.find_one({"_id": key}) if key else None
    if item is None:
        raise ApiError(404, "Content not found")
    if item["userId"] != user["_id"]:
        raise ApiError(401, "User not authorized")
    return item
