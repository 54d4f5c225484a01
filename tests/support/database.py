"""The database the stack uses, read straight, for what no route shows."""
import contextlib

import pymongo.errors

from chalicelib import db


def documents_of(user) -> list:
    """(collection, _id) of every document in any collection that names the
    user's id or email."""
    database = db.get()
    return [(name, document["_id"]) for name in database.list_collection_names()
            for document in database[name].find()
            if user["_id"] in repr(document) or user["email"] in repr(document)]


@contextlib.contextmanager
def aggregate_failing_once(code: int):
    """The next aggregate a project client sends fails with the server error
    `code`, as MongoDB's own failCommand fail point makes it; the block must
    send one, or this fails."""
    database = db.get()
    database.client.admin.command(
        "configureFailPoint", "failCommand", mode={"times": 1},
        data={"failCommands": ["aggregate"], "errorCode": code, "appName": db.APP_NAME})
    try:
        yield
        # This process's client is a project client too: if the fail point
        # is still armed, this aggregate meets it.
        try:
            database.users.aggregate([{"$limit": 1}])
        except pymongo.errors.OperationFailure as error:
            raise AssertionError("no aggregate met the fail point") from error
    finally:
        database.client.admin.command("configureFailPoint", "failCommand", mode="off")
