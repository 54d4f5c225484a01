"""The database the stack uses, read straight, for what no route shows."""
from chalicelib import db


def documents_of(user) -> list:
    """(collection, _id) of every document in any collection that names the
    user's id or email."""
    database = db.get()
    return [(name, document["_id"]) for name in database.list_collection_names()
            for document in database[name].find()
            if user["_id"] in repr(document) or user["email"] in repr(document)]
