"""The MongoDB database: one client per container, created on first use."""
import pymongo
from pymongo import IndexModel
from bson import ObjectId
from bson.errors import InvalidId

from chalicelib import settings
from chalicelib.threadsafe import once

# How the server names this project's connections (its logs, currentOp).
APP_NAME = "ai-content"


def get():
    config = settings.get()
    return _database(config.require("mongodb_uri"), config.mongodb_db)


@once
def _database(uri, name):
    # A small pool: a Lambda container serves one request at a time, and the
    # local server's thread pool is small too. Short server selection so a
    # database outage is a prompt 500, not a hung request.
    client = pymongo.MongoClient(uri, tz_aware=True, maxPoolSize=16,
                                 serverSelectionTimeoutMS=5000, connectTimeoutMS=5000,
                                 socketTimeoutMS=20000, appname=APP_NAME)
    database = client[name]
    _ensure_indexes(database)
    return database


def _ensure_indexes(database):
    # One command per collection: each is a round trip of the cold start.
    database.users.create_index("email", unique=True)
    # A user's library and jobs in the lists' order, _id breaking ties, so
    # that MongoDB answers a page in index order, examining only that page.
    database.contents.create_index([("userId", 1), ("createdAt", -1), ("_id", -1)])
    database.voices.create_index([("userId", 1), ("createdAt", -1)])
    database.jobs.create_indexes([
        IndexModel("jobId", unique=True),
        IndexModel([("userId", 1), ("createdAt", -1), ("_id", -1)]),
        # The sweeper's and the restart's queries: unfinished jobs by their times.
        IndexModel([("status", 1), ("scheduledFor", 1)]),
        IndexModel([("status", 1), ("claimExpiresAt", 1)]),
        # The notifier's catch-up: a user's jobs finished since a moment;
        # and the trim of a user's finished jobs beyond the count kept.
        IndexModel([("userId", 1), ("completedAt", 1)]),
        # Finished jobs past their retention (only a finish sets expiresAt).
        IndexModel("expiresAt", expireAfterSeconds=0),
    ])
    # The limits' counters, attempt records, reset links and the month totals
    # of trimmed jobs clean themselves up.
    for name in ("generation_quotas", "attempts", "password_resets", "spend", "usage_months"):
        database[name].create_index("expiresAt", expireAfterSeconds=0)


def object_id(text):
    """The ObjectId a path or token names, or None when it names none."""
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        return None
