"""Limits that bound what the whole service spends, beside the per-user
quotas of `limits`: jobs per client address per day, jobs and AI cost for
the whole service per day, AI cost per user per calendar month.

Each limit is a counter in one small document per window (a UTC day, a UTC
month), taken by a conditional update as the other limits are, so it holds
across any number of Lambda containers. A submit takes all four in one
ordered bulk write: it stops at the first counter that has no room, and the
counters it took before that one are given back. Between the take and the
give-back another submit may find a counter one job fuller than it will
be: a race near a cap refuses, it never admits.

Cost is reserved before the call and settled after it:
- At submit each cost counter is increased by the job's estimate (its
  prompt and the longest answer asked for, at
  OPENROUTER_PRICE_PER_MILLION_TOKENS, once per variant), conditional on the
  counter leaving room for it; the job keeps what it reserved and in which
  windows (`spend`).
- When the job ends, what ended it (lifecycle) settles, a worker once for
  its batch: it adds the actual cost minus the reservation to the same windows'
  counters. The actual cost is what the job reports in `usage`; a job that
  ended before any worker claimed it, or that the AI refused, cost nothing;
  one cancelled or given up while being worked on keeps its reservation,
  since what it cost is not known.
So a counter holds what ended jobs cost plus the estimates of those in
flight, and a cap can be passed only by jobs in flight costing more than
their estimates: with a price of 0 (OpenRouter reports each call's cost
itself) the estimate is 0, and the caps are passed by at most the cost of
the jobs in flight when they were reached, which the job caps and the
worker's concurrency bound. A crash between a job's end and its settlement
(for a worker, the end of its batch) leaves its reservation counted: it errs
towards refusing."""
from datetime import datetime, timedelta, timezone

import pymongo
import pymongo.errors

from chalicelib import clock, contract, db, errors, metrics, openrouter, settings

DUPLICATE_KEY = 11000
# A window's counters are kept this long after it ends, so that jobs still in
# flight at its end settle against them; the TTL only tidies up.
SETTLE_MARGIN = timedelta(days=2)


def estimate(inputs: dict, slots: int) -> float:
    """What a job's calls may cost, reserved before they are made."""
    characters = len(inputs["prompt"]) + len((inputs.get("rewrite") or {}).get("source", ""))
    return openrouter.estimated_cost(characters) * slots


def reserve(user_id, source_ip: str, now: datetime, slots: int, cost: float) -> dict:
    """Count a job of `slots` paid calls and its estimated `cost` against
    the address's, the service's and the user's spend limits, or raise a
    429 naming the first one it would pass. The record returned is the
    job's `spend`, which its settlement reads."""
    config = settings.get()
    day, month = _day(now), _month(now)
    record = {"day": day.isoformat(), "month": month.isoformat(), "reserved": cost}
    per_address = config.max_jobs_per_address_per_day
    per_user = config.max_cost_per_user_per_month
    takes = [_count(_address_key(source_ip, day), slots, per_address, _next_day(day),
                    lambda frees: contract.address_limit_reached(per_address, frees)),
             _count(_service_key("jobs", day), slots, config.max_service_jobs_per_day,
                    _next_day(day), contract.service_jobs_limit_reached),
             _cost(_service_key("cost", day), cost, config.max_service_cost_per_day,
                   _next_day(day), contract.service_cost_limit_reached),
             _cost(_user_cost_key(user_id, month), cost, per_user, _next_month(month),
                   lambda frees: contract.monthly_cost_limit_reached(per_user, frees))]
    # A second try tells a counter with no room from two first submits of a
    # window racing to create its document.
    for _ in range(2):
        refused = _take_all(takes)
        if refused is None:
            return record
    metrics.throttled("spend")
    message = refused.message(clock.iso(refused.ends))
    raise errors.too_many(message, refused.ends, now)


def release(record: dict, user_id, source_ip: str, slots: int):
    """Give back what `reserve` took for a job that was then refused."""
    day = datetime.fromisoformat(record["day"])
    counters = _counters()
    counters.bulk_write([
        pymongo.UpdateOne({"_id": _address_key(source_ip, day)}, {"$inc": {"count": -slots}}),
        pymongo.UpdateOne({"_id": _service_key("jobs", day)}, {"$inc": {"count": -slots}}),
        *_cost_changes(record, user_id, -record["reserved"])])


def settle(jobs):
    """Replace the reservations of jobs that have ended by what they cost,
    in one write for them all; only what ended them calls this (see the
    module's docstring)."""
    changes = []
    for job in jobs:
        record = job.get("spend")
        if record:
            delta = _actual_cost(job, record["reserved"]) - record["reserved"]
            if delta:
                changes += _cost_changes(record, job["userId"], delta)
    if changes:
        _counters().bulk_write(changes, ordered=False)


def usage(user_id, source_ip: str, now: datetime = None) -> dict:
    """Each spend limit with what it has taken and when it resets. The
    service's own counts are not a user's business: for those, only whether
    there is room."""
    now = now or clock.now()
    config = settings.get()
    day, month = _day(now), _month(now)
    found = {document["_id"]: document for document in _counters().find({"_id": {"$in": [
        _address_key(source_ip, day), _service_key("jobs", day), _service_key("cost", day),
        _user_cost_key(user_id, month)]}})}

    def taken(key, field):
        return (found.get(key) or {}).get(field, 0)

    tomorrow, next_month = clock.iso(_next_day(day)), clock.iso(_next_month(month))
    return {
        "costPerMonth": {"used": round(taken(_user_cost_key(user_id, month), "cost"), 8),
                         "max": config.max_cost_per_user_per_month, "resetsAt": next_month},
        "addressJobsPerDay": {"used": taken(_address_key(source_ip, day), "count"),
                              "max": config.max_jobs_per_address_per_day,
                              "resetsAt": tomorrow},
        "serviceJobsPerDay": {"reached": taken(_service_key("jobs", day), "count")
                              >= config.max_service_jobs_per_day, "resetsAt": tomorrow},
        "serviceCostPerDay": {"reached": taken(_service_key("cost", day), "cost")
                              >= config.max_service_cost_per_day, "resetsAt": tomorrow},
    }


def forget(user_id):
    """Drop a deleted user's monthly cost counters."""
    _counters().delete_many({"_id": {"$regex": f"^{_user_cost_prefix(user_id)}"}})


def _actual_cost(job, reserved):
    if (job.get("usage") or {}).get("cost") is not None:
        return job["usage"]["cost"]
    if not job.get("attempts"):
        return 0
    if job["status"] == "failed" and job.get("error") != contract.CANCELLED:
        return 0
    paid = sum((variant.get("usage") or {}).get("cost", 0)
               for variant in job.get("variantResults", ()))
    return max(reserved, paid)


def _cost_changes(record, user_id, delta):
    day, month = datetime.fromisoformat(record["day"]), datetime.fromisoformat(record["month"])
    return [pymongo.UpdateOne({"_id": _service_key("cost", day)}, {"$inc": {"cost": delta}}),
            pymongo.UpdateOne({"_id": _user_cost_key(user_id, month)},
                              {"$inc": {"cost": delta}})]


class _Take:
    """One counter's conditional increment, and what its refusal says:
    `message(resets_at)`."""

    def __init__(self, key, field, step, room, ends, fits, message):
        self.key, self.field, self.step, self.ends, self.fits = key, field, step, ends, fits
        self.message = message
        self.write = pymongo.UpdateOne(
            {"_id": key, field: room},
            {"$inc": {field: step}, "$setOnInsert": {"expiresAt": ends + SETTLE_MARGIN}},
            upsert=True)


def _count(key, slots, maximum, ends, message):
    # An upsert that creates the document ignores the condition, hence `fits`.
    return _Take(key, "count", slots, {"$lte": maximum - slots}, ends, slots <= maximum,
                 message)


def _cost(key, cost, maximum, ends, message):
    room = {"$lte": maximum - cost} if cost else {"$lt": maximum}
    return _Take(key, "cost", cost, room, ends, cost <= maximum if cost else maximum > 0,
                 message)


def _take_all(takes):
    """None when every counter was taken; else the one that refused, with
    those taken before it given back."""
    unfit = next((take for take in takes if not take.fits), None)
    if unfit is not None:
        return unfit
    counters = _counters()
    try:
        counters.bulk_write([take.write for take in takes])
        return None
    except pymongo.errors.BulkWriteError as error:
        refused = error.details["writeErrors"][0]
        if refused["code"] != DUPLICATE_KEY:
            raise
    taken = takes[:refused["index"]]
    if taken:
        counters.bulk_write([pymongo.UpdateOne({"_id": take.key},
                                               {"$inc": {take.field: -take.step}})
                             for take in taken])
    return takes[refused["index"]]


def _address_key(source_ip, day):
    return f"address-jobs:{day.date().isoformat()}:{source_ip}"


def _service_key(counted, day):
    """The service's count of "jobs" or "cost" for the day."""
    return f"service-{counted}:{day.date().isoformat()}"


def _user_cost_prefix(user_id):
    return f"user-cost:{user_id}:"


def _user_cost_key(user_id, month):
    return f"{_user_cost_prefix(user_id)}{month.date().isoformat()[:7]}"


def _day(now):
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc)


def _next_day(day):
    return day + timedelta(days=1)


def _month(now):
    return datetime(now.year, now.month, 1, tzinfo=timezone.utc)


def _next_month(month):
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=timezone.utc)


def _counters():
    return db.get().spend
