"""What a user does with their own account: a new password, deleting it, and
taking out everything stored about them."""
import json
import logging

import pymongo

from chalicelib import (auth, clock, contract, db, jobs, lockout, notify, pages, storage,
                        validation)
from chalicelib.errors import ApiError

log = logging.getLogger(__name__)

# Each export page stops after the item that takes it past this many bytes
# of JSON, so a page stays far below a Lambda response's 6 MB whatever the
# size of one item (a body is at most 100,000 characters).
EXPORT_PAGE_BYTES = 1_000_000
EXPORT_SECTIONS = ("contents", "jobs", "voices")


def change_password(user: dict, body: dict) -> dict:
    """Set a new password after the current one; every other token ends and
    the answer is a fresh one, as login's."""
    fields = validation.required_strings(body, ("currentPassword", "newPassword"),
                                         contract.MISSING_PASSWORDS)
    new_password = validation.password(fields["newPassword"])
    auth.confirm_password(user, fields["currentPassword"])
    changed = auth.end_all_sessions(user["_id"], {"password": auth.hash_password(new_password),
                                                  "updatedAt": clock.now()})
    if changed is None:
        raise ApiError(401, contract.USER_NOT_FOUND)
    return auth.credentials(changed)


def delete(user: dict, body: dict) -> dict:
    """Remove the user and everything stored about them. The user goes
    first, so their tokens stop at once, the email is free, and a submit
    still under way sees them gone (`jobs.forget`)."""
    fields = validation.required_strings(body, ("password",), contract.MISSING_PASSWORD)
    auth.confirm_password(user, fields["password"])
    database = db.get()
    database.users.delete_one({"_id": user["_id"]})
    jobs.forget(user)
    database.contents.delete_many({"userId": user["_id"]})
    database.voices.delete_many({"userId": user["_id"]})
    storage.forget(user["_id"])
    lockout.forget(user["_id"], user["email"])
    database.password_resets.delete_many({"userId": user["_id"]})
    notify.sessions_ended(user["_id"])
    log.info("user %s: account deleted", user["_id"])
    return {"message": contract.ACCOUNT_DELETED}


def export(user: dict, cursor=None) -> dict:
    """One page of everything stored about the user: the profile, then the
    library and the jobs (with their usage), oldest first. `nextCursor`
    names the next page; null on the last."""
    section, after = _position(cursor)
    page = {"profile": _profile(user), "contents": [], "jobs": [], "voices": [],
            "nextCursor": None}
    views = {"contents": contract.CONTENT, "jobs": contract.JOB, "voices": contract.VOICE}
    size = 0
    for name in EXPORT_SECTIONS[EXPORT_SECTIONS.index(section):]:
        condition = {"userId": user["_id"]}
        if after is not None:
            condition["_id"] = {"$gt": after}
        for document in db.get()[name].find(condition).sort("_id", pymongo.ASCENDING):
            view = views[name](document)
            page[name].append(view)
            size += len(json.dumps(view))
            if size >= EXPORT_PAGE_BYTES:
                page["nextCursor"] = pages.encode(name, document["_id"])
                return page
        after = None
    return page


def _profile(user):
    """The user document as stored, without the password's hash or the
    bookkeeping of ended sessions."""
    view = {**auth.profile(user), "createdAt": clock.iso(user["createdAt"])}
    if "updatedAt" in user:
        view["updatedAt"] = clock.iso(user["updatedAt"])
    return view


def _position(cursor):
    if cursor is None:
        return EXPORT_SECTIONS[0], None
    section, (last_id,) = pages.decode(cursor, EXPORT_SECTIONS, parts=1)
    after = db.object_id(last_id)
    if after is None:
        raise ApiError(400, contract.INVALID_CURSOR)
    return section, after
