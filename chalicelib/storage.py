"""What one user's library may hold: at most MAX_LIBRARY_ITEMS_PER_USER
items and MAX_LIBRARY_CHARACTERS_PER_USER characters of titles and bodies,
so that the contract's unpaged GET /content answers far below a Lambda
response's 6 MB.

One small document per user (`library_usage`, keyed by the user's id) counts
what the library holds. A write that adds to it first takes its share with
one conditional update, which matches only while the share fits, so
concurrent saves cannot pass a cap together; what a write frees (a delete, a
shorter body, an insert that failed) is given back after it. A container that
dies between the two leaves the count too high, never too low: the library
refuses early, never past a cap.

Characters are counted as UTF-16 code units, as JavaScript's `length`
counts them (an emoji is two): an answer spends at most 7 bytes on each
(`\\uXXXX` in the JSON body, its backslash escaped again in Lambda's
response), so the caps bound the answer whatever the text."""
import pymongo.errors

from chalicelib import contract, db, settings
from chalicelib.errors import ApiError


def characters(*texts) -> int:
    return sum(len(text.encode("utf-16-le", "surrogatepass")) // 2 for text in texts)


def size(item: dict) -> int:
    """What a stored item counts against its library."""
    return characters(item["title"], item["body"])


def take(user_id, items: int = 0, chars: int = 0):
    """Count `items` more items and `chars` more characters against the
    user's library, or raise a 400 naming the cap they would pass."""
    config = settings.get()
    condition = {"_id": user_id}
    if items > 0:
        condition["items"] = {"$lte": config.max_library_items_per_user - items}
    if chars > 0:
        condition["characters"] = {"$lte": config.max_library_characters_per_user - chars}
    if len(condition) == 1:
        return
    usage = _usage()
    update = {"$inc": {"items": items, "characters": chars}}
    if usage.update_one(condition, update).matched_count:
        return
    held = usage.find_one({"_id": user_id})
    if held is None:
        held = _count(user_id)
        if usage.update_one(condition, update).matched_count:
            return
    if items > 0 and held["items"] + items > config.max_library_items_per_user:
        raise ApiError(400, contract.library_items_full(config.max_library_items_per_user))
    raise ApiError(400, contract.library_characters_full(
        config.max_library_characters_per_user))


def give(user_id, items: int = 0, chars: int = 0):
    """Give back what a write freed, or took and did not store."""
    if items > 0 or chars > 0:
        _usage().update_one({"_id": user_id}, {"$inc": {"items": -items, "characters": -chars}})


def forget(user_id):
    _usage().delete_one({"_id": user_id})


def _count(user_id) -> dict:
    """Start the user's count from the items stored (a library from before
    the caps). No item can be stored meanwhile, since storing one takes its
    share of this very document first; an item deleted meanwhile is counted
    once too often, which refuses early."""
    held = {"_id": user_id, "items": 0, "characters": 0}
    for item in db.get().contents.find({"userId": user_id}, {"title": 1, "body": 1}):
        held["items"] += 1
        held["characters"] += size(item)
    try:
        _usage().insert_one(held)
    except pymongo.errors.DuplicateKeyError:
        # Another request counted first; its count is as good.
        return _usage().find_one({"_id": user_id}) or held
    return held


def _usage():
    return db.get().library_usage
