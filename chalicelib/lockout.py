"""Login lockout that a stranger cannot aim at someone else.

Failed logins are counted per (email, address): after LOGIN_MAX_FAILURES of
them each further attempt from that address for that email waits twice as
long as the one before (1 s, 2 s, 4 s, ... up to LOGIN_LOCKOUT_SECONDS), so
one address gets about 14 guesses in the first 15 minutes and then one per
LOGIN_LOCKOUT_SECONDS, while the owner elsewhere is not slowed at all. The
count is forgotten a day after the last failure, or at a success.
Above that, every attempt for an email from all addresses together is
counted in any LOGIN_LOCKOUT_SECONDS, and past LOGIN_MAX_FAILURES_PER_EMAIL
(far above what one address can reach in that time) the email is locked
for everyone: the ceiling on a guessing attack spread over many addresses.

An attempt is reserved before its password is checked and counts as a
failure unless the login succeeds, so concurrent guesses cannot get past
either count. A signed-in user's password confirmation (a new password, a
deletion) is counted per user, as before: only the token's holder can make
those guesses."""
import json
import re
import secrets
from datetime import datetime, timedelta

import pymongo
import pymongo.errors

from chalicelib import clock, contract, limits, settings

FIRST_DELAY_SECONDS = 1
# How long a run of failures from one address for one email is remembered.
PAIR_MEMORY = timedelta(days=1)
# Reading the pair and writing it conditionally can lose to a concurrent
# attempt of the same pair; past this many losses it is refused as locked.
PAIR_TRIES = 3


def reserve_login(source_ip: str, email: str, now: datetime = None) -> str:
    """Count an attempt to log in as `email` from `source_ip`, or raise a
    429: the address's per-minute cap first (so a refused address reserves
    nothing for the email), then the pair's delay, then the email's
    ceiling. The id returned is the attempt's, for login_succeeded(). One
    read and one ordered write unless something refuses or races."""
    now = now or clock.now()
    config = settings.get()
    attempt = secrets.token_hex(8)
    address_counted = False
    for _ in range(PAIR_TRIES):
        pair = limits.attempts().find_one({"_id": _pair_key(email, source_ip)})
        if pair is not None and pair["expiresAt"] > now and pair["nextAt"] > now:
            if not address_counted:
                limits.count_login(source_ip, now)
            raise limits.too_many(contract.LOGIN_LOCKED, pair["nextAt"], now)
        writes = {"address": limits.request_count("login", source_ip,
                                                  config.login_attempts_per_ip_per_minute, now),
                  "pair": _pair_attempt(email, source_ip, pair, attempt, now, config),
                  "email": _email_attempt(email, attempt, now, config)}
        if address_counted:
            del writes["address"]
        refused = _write(writes)
        if refused is None:
            return attempt
        if refused == "address":
            # Its window is full (this raises), or two first requests raced
            # to create it; either way the pair is read again.
            limits.count_login(source_ip, now)
        elif refused == "email":
            _take_email_slowly(email, attempt, now, config,
                               undo=(email, source_ip, pair, attempt))
            return attempt
        # A refused pair: another attempt of it came between read and write.
        address_counted = True
    raise limits.too_many(contract.LOGIN_LOCKED, now, now)


def login_succeeded(email: str, source_ip: str, attempt: str):
    """The pair's failures are forgotten; the attempt leaves the email's
    count, which strangers' failures elsewhere stay in."""
    limits.attempts().bulk_write([
        pymongo.DeleteOne({"_id": _pair_key(email, source_ip)}),
        pymongo.UpdateOne({"_id": _email_key(email)},
                          {"$pull": {"attempts": {"id": attempt}}})])


def unlock(email: str):
    """Every count against the email, from every address: after a password
    reset, or with the account deleted."""
    limits.attempts().delete_one({"_id": _email_key(email)})
    limits.attempts().delete_many({"_id": {"$regex": f"^{re.escape(_pair_prefix(email))}"}})


def begin_password_check(user_id, now: datetime = None):
    """Reserve one confirmation of a signed-in user's password, or raise a
    429 once LOGIN_MAX_FAILURES have failed in LOGIN_LOCKOUT_SECONDS."""
    config = settings.get()
    limits.take_recent(_confirm_key(user_id), config.login_max_failures,
                       timedelta(seconds=config.login_lockout_seconds), contract.LOGIN_LOCKED,
                       now)


def password_check_succeeded(user_id):
    limits.attempts().delete_one({"_id": _confirm_key(user_id)})


def forget(user_id, email: str):
    unlock(email)
    password_check_succeeded(user_id)


def delay_after(failures: int, config) -> float:
    """Seconds an attempt must wait after the pair's `failures`-th failure."""
    beyond = failures - config.login_max_failures
    if beyond < 0:
        return 0
    return min(FIRST_DELAY_SECONDS * 2 ** min(beyond, 32), config.login_lockout_seconds)


def _pair_attempt(email, source_ip, pair, attempt, now, config):
    """The pair's next failure, conditional on the count just read: a
    concurrent attempt of the pair makes it collide and read again."""
    live = pair is not None and pair["expiresAt"] > now
    failures = pair["count"] + 1 if live else 1
    condition = ({"_id": pair["_id"], "count": pair["count"]} if live
                 else {"_id": _pair_key(email, source_ip), "expiresAt": {"$lte": now}})
    update = {"$set": {"count": failures, "attempt": attempt, "expiresAt": now + PAIR_MEMORY,
                       "nextAt": now + timedelta(seconds=delay_after(failures, config))}}
    return condition, update


def _email_attempt(email, attempt, now, config):
    condition = {"_id": _email_key(email),
                 f"attempts.{config.login_max_failures_per_email - 1}": {"$exists": False}}
    update = {"$push": {"attempts": {"at": now, "id": attempt}},
              "$set": {"expiresAt": now + timedelta(seconds=config.login_lockout_seconds)}}
    return condition, update


def _write(writes):
    """None when every write applied; else the name of the one refused (an
    ordered write stops there)."""
    try:
        limits.attempts().bulk_write([pymongo.UpdateOne(condition, update, upsert=True)
                                      for condition, update in writes.values()])
        return None
    except pymongo.errors.BulkWriteError as error:
        refused = error.details["writeErrors"][0]
        if refused["code"] != limits.DUPLICATE_KEY:
            raise
        return list(writes)[refused["index"]]


def _take_email_slowly(email, attempt, now, config, undo):
    """The email's count refused: drop the attempts out of its window and
    try once more; if it is full, the pair's failure just counted is given
    back (the attempt was never made) and the email is locked."""
    window = timedelta(seconds=config.login_lockout_seconds)
    attempts = limits.attempts()
    record = attempts.find_one_and_update(
        {"_id": _email_key(email)}, {"$pull": {"attempts": {"at": {"$lte": now - window}}}},
        return_document=pymongo.ReturnDocument.AFTER)
    if limits.conditional_upsert(attempts, *_email_attempt(email, attempt, now, config)):
        return
    _give_back(*undo)
    held = sorted(entry["at"] for entry in (record or {}).get("attempts", []))
    maximum = config.login_max_failures_per_email
    frees = held[len(held) - maximum] + window if len(held) >= maximum else now
    raise limits.too_many(contract.LOGIN_LOCKED, frees, now)


def _give_back(email, source_ip, pair, attempt):
    attempts = limits.attempts()
    if pair is None:
        attempts.delete_one({"_id": _pair_key(email, source_ip), "attempt": attempt})
    else:
        attempts.update_one({"_id": pair["_id"], "attempt": attempt},
                            {"$set": {name: pair[name] for name in
                                      ("count", "expiresAt", "nextAt", "attempt")
                                      if name in pair}})


def _pair_prefix(email):
    # JSON quoting keeps (email, address) apart whatever either holds.
    return f"login-pair:{json.dumps(email)}, "


def _pair_key(email, source_ip):
    return f"{_pair_prefix(email)}{json.dumps(source_ip)}"


def _email_key(email):
    # Beside the per-address counters ("login:…", "register:…"), which an
    # email chosen to look like one must not reach.
    return f"login-email:{email}"


def _confirm_key(user_id):
    return f"confirm:{user_id}"
