"""Limits that protect the money: generation quotas per user, login lockout
per email and request caps per client address.

Each limit is a conditional write on one small MongoDB document, so it holds
across any number of Lambda containers. TTL indexes only tidy up: every
answer is computed from the timestamps stored, never from the TTL having run.
Functions take `now` so the windows can be tested with any clock."""
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pymongo
import pymongo.errors

from chalicelib import clock, contract, db, lifecycle, metrics, settings
from chalicelib.errors import ApiError

DAY = timedelta(days=1)
# A slot whose job document never appeared: the submit died between taking
# the slot and storing the job (a Lambda timeout is far shorter).
ABANDONED_SLOT = timedelta(minutes=1)
# Past this, every submission in the document is out of the 24 h window and
# every job it names has long ended, so the TTL may drop it.
QUOTA_LIFETIME = timedelta(days=2)
REQUEST_WINDOW_SECONDS = 60
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class _Quota:
    """What a user's quota document holds once ended jobs and old
    submissions are left out; `ends` is when each active job should end."""
    ends: list
    submitted: list


def take_generation_slot(user_id, job_id: str, now: datetime = None, slots: int = 1):
    """Count a new job against its user's limits, before anything is stored,
    or raise a 429. A job of several variants makes that many paid calls, so
    it takes that many slots. One conditional update takes them; only when
    it finds the quota full are ended jobs and old submissions dropped, and
    it tries once more."""
    now = now or clock.now()
    config = settings.get()
    if slots > min(config.max_active_jobs_per_user, config.max_jobs_per_day):
        raise _generation_refused(_reconcile(user_id, now), now, config)
    condition = {"_id": user_id,
                 f"active.{config.max_active_jobs_per_user - slots}": {"$exists": False},
                 f"submitted.{config.max_jobs_per_day - slots}": {"$exists": False}}
    update = {"$push": {"active": {"$each": [{"jobId": job_id, "at": now}] * slots},
                        "submitted": {"$each": [now] * slots}},
              "$set": {"expiresAt": now + QUOTA_LIFETIME}}
    if _conditional_upsert(_collection("generation_quotas"), condition, update):
        return
    quota = _reconcile(user_id, now)
    if _conditional_upsert(_collection("generation_quotas"), condition, update):
        return
    raise _generation_refused(quota, now, config)


def usage(user_id, now: datetime = None) -> dict:
    now = now or clock.now()
    config = settings.get()
    quota = _reconcile(user_id, now)
    next_slot = _next_slot(quota, now, config)
    return {"activeJobs": len(quota.ends), "maxActiveJobs": config.max_active_jobs_per_user,
            "jobsLast24h": len(quota.submitted), "maxJobsPerDay": config.max_jobs_per_day,
            "nextSlotAt": clock.iso(next_slot) if next_slot else None}


def reserve_login(source_ip: str, email: str, now: datetime = None):
    """count_login() and begin_login() in one round trip: both documents
    live in one collection, and an ordered write stops at the first refusal,
    so a refused address reserves no attempt for the email. Only a refusal
    (or two first requests racing to create a document) takes the slower
    path of each."""
    now = now or clock.now()
    config = settings.get()
    writes = [_request_count("login", source_ip, config.login_attempts_per_ip_per_minute, now),
              _login_attempt(email, now, config)]
    try:
        _attempts().bulk_write([pymongo.UpdateOne(condition, update, upsert=True)
                                for condition, update in writes])
        return
    except pymongo.errors.BulkWriteError as error:
        refused = error.details["writeErrors"][0]
        if refused["code"] != DUPLICATE_KEY:
            raise
    if refused["index"] == 0:
        count_login(source_ip, now)
    begin_login(email, now)


def begin_login(email: str, now: datetime = None):
    """Reserve one login attempt for `email` before its password is checked,
    or raise a 429 when the window already holds the maximum. The attempt
    counts as a failure unless login_succeeded() clears the record, so
    concurrent guesses cannot get past the limit either."""
    config = settings.get()
    _take_recent(_email_key(email), config.login_max_failures,
                 timedelta(seconds=config.login_lockout_seconds), contract.LOGIN_LOCKED, now)


def count_password_reset(source_ip: str, email: str, now: datetime = None):
    """A reset link asked for, counted per address and per email, whether
    or not the email is registered, so a refusal reveals nothing either."""
    now = now or clock.now()
    config = settings.get()
    _count_request("reset", source_ip, config.password_resets_per_ip_per_minute, now)
    _take_recent(_reset_key(email), config.password_resets_per_email_per_hour,
                 timedelta(hours=1), contract.RESETS_REFUSED, now)


def _take_recent(key, maximum, window, message, now):
    """Record one attempt in the record `key`, or raise a 429 with `message`
    when `window` already holds `maximum` of them."""
    now = now or clock.now()
    condition, update = _recent_attempt(key, maximum, window, now)
    attempts = _attempts()
    if _conditional_upsert(attempts, condition, update):
        return
    record = attempts.find_one_and_update(
        {"_id": key}, {"$pull": {"failures": {"$lte": now - window}}},
        return_document=pymongo.ReturnDocument.AFTER)
    if _conditional_upsert(attempts, condition, update):
        return
    failures = sorted((record or {}).get("failures", []))
    frees = failures[len(failures) - maximum] + window if len(failures) >= maximum else now
    raise _too_many(message, frees, now)


def login_succeeded(email: str):
    _attempts().delete_one({"_id": _email_key(email)})


def forget(user_id, email: str):
    """Drop every limit record of a user being deleted: the generation
    quota and the attempts counted against the email."""
    _collection("generation_quotas").delete_one({"_id": user_id})
    _attempts().delete_many({"_id": {"$in": [_email_key(email), _reset_key(email)]}})


def count_login(source_ip: str, now: datetime = None):
    _count_request("login", source_ip, settings.get().login_attempts_per_ip_per_minute, now)


def count_registration(source_ip: str, now: datetime = None):
    _count_request("register", source_ip, settings.get().registrations_per_ip_per_minute, now)


def _count_request(action, source_ip, per_minute, now):
    """A fixed one-minute window per action and address: a conditional
    increment, refused once the window's count is reached."""
    now = now or clock.now()
    condition, update = _request_count(action, source_ip, per_minute, now)
    counters = _attempts()
    # A second try tells a full window from two first requests of a window
    # racing to create its counter.
    if not (_conditional_upsert(counters, condition, update)
            or _conditional_upsert(counters, condition, update)):
        raise _too_many(contract.TOO_MANY_REQUESTS, update["$setOnInsert"]["expiresAt"], now)


def _request_count(action, source_ip, per_minute, now):
    window = int(now.timestamp()) // REQUEST_WINDOW_SECONDS
    ends = datetime.fromtimestamp((window + 1) * REQUEST_WINDOW_SECONDS, timezone.utc)
    return ({"_id": f"{action}:{source_ip}:{window}", "count": {"$lt": per_minute}},
            {"$inc": {"count": 1}, "$setOnInsert": {"expiresAt": ends}})


def _login_attempt(email, now, config):
    return _recent_attempt(_email_key(email), config.login_max_failures,
                           timedelta(seconds=config.login_lockout_seconds), now)


def _recent_attempt(key, maximum, window, now):
    condition = {"_id": key, f"failures.{maximum - 1}": {"$exists": False}}
    update = {"$push": {"failures": now}, "$set": {"expiresAt": now + window}}
    return condition, update


def _email_key(email):
    # Beside the per-address counters ("login:…", "register:…"), which an
    # email chosen to look like one must not reach.
    return f"email:{email}"


def _reset_key(email):
    return f"reset-email:{email}"


def _conditional_upsert(collection, condition, update) -> bool:
    """Apply `update` if the document matches `condition` (creating it when
    it does not exist). A document that exists but does not match makes the
    upsert collide with its own _id: that is the refusal."""
    try:
        collection.update_one(condition, update, upsert=True)
        return True
    except pymongo.errors.DuplicateKeyError:
        return False


def _reconcile(user_id, now) -> _Quota:
    """Free the slots of jobs that ended, whoever ended them, and of submits
    that died before storing their job; forget submissions older than 24 h."""
    quotas = _collection("generation_quotas")
    document = quotas.find_one({"_id": user_id}) or {}
    active = document.get("active", [])
    found = {job["jobId"]: job for job in db.get().jobs.find(
        {"jobId": {"$in": [entry["jobId"] for entry in active]}},
        {"jobId": 1, "status": 1, "scheduledFor": 1})}
    ends, freed = [], []
    for entry in active:
        job = found.get(entry["jobId"])
        if _ended(job, entry, now):
            freed.append(entry["jobId"])
        else:
            ends.append(_expected_end(job, entry))
    cutoff = now - DAY
    quotas.update_one({"_id": user_id}, {"$pull": {"submitted": {"$lte": cutoff},
                                                   "active": {"jobId": {"$in": freed}}}})
    return _Quota(ends=ends, submitted=[at for at in document.get("submitted", [])
                                        if at > cutoff])


def _ended(job, entry, now) -> bool:
    if job is None:
        return entry["at"] + ABANDONED_SLOT <= now
    return job["status"] in lifecycle.FINISHED


def _expected_end(job, entry):
    if job is None:
        return entry["at"] + ABANDONED_SLOT
    return job["scheduledFor"] + timedelta(seconds=lifecycle.ESTIMATED_AI_SECONDS)


def _next_slot(quota, now, config):
    """When the next submission would be accepted; None if it would be now."""
    moments = []
    if len(quota.submitted) >= config.max_jobs_per_day:
        ordered = sorted(quota.submitted)
        moments.append(ordered[len(ordered) - config.max_jobs_per_day] + DAY)
    if len(quota.ends) >= config.max_active_jobs_per_user:
        ordered = sorted(quota.ends)
        moments.append(ordered[len(ordered) - config.max_active_jobs_per_user])
    return max(max(moments), now + timedelta(seconds=1)) if moments else None


def _generation_refused(quota, now, config):
    # A request that lost a race for the last slot finds the quota just full.
    frees = _next_slot(quota, now, config) or now
    if len(quota.submitted) >= config.max_jobs_per_day:
        message = contract.daily_limit_reached(config.max_jobs_per_day, clock.iso(frees))
    else:
        message = contract.active_limit_reached(config.max_active_jobs_per_user)
    return _too_many(message, frees, now)


def _too_many(message, frees, now):
    metrics.throttled("limits")
    seconds = max(1, math.ceil((frees - now).total_seconds()))
    return ApiError(429, message, headers={"Retry-After": str(seconds),
                                           "Access-Control-Expose-Headers": "Retry-After"})


def _collection(name):
    return db.get()[name]


def _attempts():
    """Per-address request counters and per-email login attempts, in one
    collection so that a login reserves both in one write."""
    return _collection("attempts")
