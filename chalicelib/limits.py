"""Limits that protect the money: generation quotas per user and request
caps per client address (the service's spend is `spend`'s, the login
lockout `lockout`'s).

Each limit is a conditional write on one small MongoDB document, so it holds
across any number of Lambda containers. TTL indexes only tidy up: every
answer is computed from the timestamps stored, never from the TTL having run.
Functions take `now` so the windows can be tested with any clock."""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pymongo
import pymongo.errors

from chalicelib import clock, contract, db, errors, lifecycle, metrics, settings, spend

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
    if conditional_upsert(_collection("generation_quotas"), condition, update):
        return
    quota = _reconcile(user_id, now)
    if conditional_upsert(_collection("generation_quotas"), condition, update):
        return
    raise _generation_refused(quota, now, config)


def usage(user_id, source_ip: str, now: datetime = None) -> dict:
    """What the user's quota leaves, and (an addition) `limits`: every
    limit a submit from this address meets, each with when it resets (for
    the rolling ones, when the oldest job counted leaves it; null if none)."""
    now = now or clock.now()
    config = settings.get()
    quota = _reconcile(user_id, now)
    next_slot = _next_slot(quota, now, config)
    return {"activeJobs": len(quota.ends), "maxActiveJobs": config.max_active_jobs_per_user,
            "jobsLast24h": len(quota.submitted), "maxJobsPerDay": config.max_jobs_per_day,
            "nextSlotAt": clock.iso(next_slot) if next_slot else None,
            "limits": {
                "activeJobs": {"used": len(quota.ends), "max": config.max_active_jobs_per_user,
                               "resetsAt": _earliest(quota.ends)},
                "jobsPerDay": {"used": len(quota.submitted), "max": config.max_jobs_per_day,
                               "resetsAt": _earliest(at + DAY for at in quota.submitted)},
                **spend.usage(user_id, source_ip, now)}}


def _earliest(moments):
    moments = list(moments)
    return clock.iso(min(moments)) if moments else None


def count_password_reset(source_ip: str, email: str, now: datetime = None):
    """A reset link asked for, counted per address and per email, whether
    or not the email is registered, so a refusal reveals nothing either."""
    now = now or clock.now()
    config = settings.get()
    _count_request("reset", source_ip, config.password_resets_per_ip_per_minute, now)
    take_recent(_reset_key(email), config.password_resets_per_email_per_hour,
                 timedelta(hours=1), contract.RESETS_REFUSED, now)


def take_recent(key, maximum, window, message, now):
    """Record one attempt in the record `key`, or raise a 429 with `message`
    when `window` already holds `maximum` of them."""
    now = now or clock.now()
    condition, update = _recent_attempt(key, maximum, window, now)
    records = attempts()
    if conditional_upsert(records, condition, update):
        return
    record = records.find_one_and_update(
        {"_id": key}, {"$pull": {"failures": {"$lte": now - window}}},
        return_document=pymongo.ReturnDocument.AFTER)
    if conditional_upsert(records, condition, update):
        return
    failures = sorted((record or {}).get("failures", []))
    frees = failures[len(failures) - maximum] + window if len(failures) >= maximum else now
    raise too_many(message, frees, now)


def forget(user_id, email: str):
    """Drop the generation quota and the reset requests of a user being
    deleted (lockout and spend forget their own)."""
    _collection("generation_quotas").delete_one({"_id": user_id})
    attempts().delete_one({"_id": _reset_key(email)})


def count_login(source_ip: str, now: datetime = None):
    _count_request("login", source_ip, settings.get().login_attempts_per_ip_per_minute, now)


def count_registration(source_ip: str, now: datetime = None):
    _count_request("register", source_ip, settings.get().registrations_per_ip_per_minute, now)


def _count_request(action, source_ip, per_minute, now):
    """A fixed one-minute window per action and address: a conditional
    increment, refused once the window's count is reached."""
    now = now or clock.now()
    condition, update = request_count(action, source_ip, per_minute, now)
    counters = attempts()
    # A second try tells a full window from two first requests of a window
    # racing to create its counter.
    if not (conditional_upsert(counters, condition, update)
            or conditional_upsert(counters, condition, update)):
        raise too_many(contract.TOO_MANY_REQUESTS, update["$setOnInsert"]["expiresAt"], now)


def request_count(action, source_ip, per_minute, now):
    window = int(now.timestamp()) // REQUEST_WINDOW_SECONDS
    ends = datetime.fromtimestamp((window + 1) * REQUEST_WINDOW_SECONDS, timezone.utc)
    return ({"_id": f"{action}:{source_ip}:{window}", "count": {"$lt": per_minute}},
            {"$inc": {"count": 1}, "$setOnInsert": {"expiresAt": ends}})


def _recent_attempt(key, maximum, window, now):
    condition = {"_id": key, f"failures.{maximum - 1}": {"$exists": False}}
    update = {"$push": {"failures": now}, "$set": {"expiresAt": now + window}}
    return condition, update


def _reset_key(email):
    return f"reset-email:{email}"


def conditional_upsert(collection, condition, update) -> bool:
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
    return too_many(message, frees, now)


def too_many(message, frees, now):
    metrics.throttled("limits")
    return errors.too_many(message, frees, now)


def _collection(name):
    return db.get()[name]


def attempts():
    """Per-address request counters and login attempts (`lockout`'s), in
    one collection so that a login reserves them in one write."""
    return _collection("attempts")
