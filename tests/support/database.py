"""The database the stack uses, read straight, for what no route shows."""
import contextlib

from chalicelib import db


def documents_of(user) -> list:
    """(collection, _id) of every document in any collection that names the
    user's id or email."""
    database = db.get()
    return [(name, document["_id"]) for name in database.list_collection_names()
            for document in database[name].find()
            if user["_id"] in repr(document) or user["email"] in repr(document)]


@contextlib.contextmanager
def failing_once(command: str, code: int):
    """The next `command` a project client sends fails with the server error
    `code`, as MongoDB's own failCommand fail point makes it."""
    admin = db.get().client.admin
    admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                  data={"failCommands": [command], "errorCode": code,
                        "appName": db.APP_NAME})
    try:
        yield
    finally:
        admin.command("configureFailPoint", "failCommand", mode="off")
