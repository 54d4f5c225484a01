"""Every state change of a generation job, each one conditional update.

    queued ──claim──> processing ──complete──> completed
       │                  │       └──fail────> failed
       └──────────────────┴──mark_error──────> error

The claim comes first, as in Powertools' idempotency: nothing with a side
effect (the paid AI call) happens until one conditional update has taken the
job, so duplicate messages and racing workers cannot call the AI twice, and
only the claim's holder can write its result. A claim is a lease: if its
holder dies, the job can be claimed again once the lease has run out.
"""
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import pymongo
import pymongo.errors

from chalicelib import clock, db, settings

log = logging.getLogger(__name__)

FINISHED = ("completed", "failed", "error")
# How long a due job is expected to take, for the estimates the API gives.
ESTIMATED_AI_SECONDS = 30
UNFINISHED = ("queued", "processing")
# A state seen between two updates of another worker: look again shortly.
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Outcome:
    """What a transition did. `job` is the job after it when it was taken;
    otherwise `reason` says why not ("unknown", "finished", "early", "held",
    or "lost": the holder's lease ran out and another worker claimed the
    job) and `retry_in` when it may be worth trying again."""
    job: Optional[dict] = None
    reason: str = "taken"
    retry_in: float = 0.0

    @property
    def taken(self) -> bool:
        return self.job is not None


def create(job: dict) -> dict:
    """Store a new job; it starts `queued`."""
    db.get().jobs.insert_one({**job, "status": "queued"})
    return job


def claim(job_id: str) -> Outcome:
    """Take the job for processing: due (`scheduledFor` has passed) and
    either `queued` or `processing` under a lease that has run out."""
    moment = clock.now()
    lease = timedelta(seconds=settings.get().claim_lease_seconds)
    job = db.get().jobs.find_one_and_update(
        {"jobId": job_id, "scheduledFor": {"$lte": moment}, "$or": [
            {"status": "queued"},
            {"status": "processing", "claimExpiresAt": {"$lt": moment}},
        ]},
        {"$set": {"status": "processing", "claimToken": uuid.uuid4().hex,
                  "claimedAt": moment, "claimExpiresAt": moment + lease,
                  "updatedAt": moment},
         "$inc": {"attempts": 1}},
        return_document=pymongo.ReturnDocument.AFTER)
    if job is not None:
        return Outcome(job)
    return _why_not(job_id, moment, early_counts=True)


def complete(job: dict, text: str, deadline: float, **extra) -> Outcome:
    """The claim holder's result. `deadline` (a time.monotonic()) bounds the
    retries of the write: the AI has been paid, so a database outage shorter
    than the time left must not throw the text away."""
    return _finish_claimed(job, "completed", {"generatedContent": text, **extra}, deadline)


def fail(job: dict, message: str, deadline: float, **extra) -> Outcome:
    return _finish_claimed(job, "failed", {"error": message, **extra}, deadline)


def mark_error(job_id: str, message: str) -> Outcome:
    """A system fault outlived the queue's retries (or the job could not be
    queued at all). Only a job nobody is working on ends as `error`: one
    `queued`, or `processing` under a lease that has run out. A live claim's
    holder may still be about to write a paid result."""
    moment = clock.now()
    job = _finish({"jobId": job_id, "$or": [
        {"status": "queued"},
        {"status": "processing", "claimExpiresAt": {"$lt": moment}},
    ]}, "error", {"error": message}, moment)
    if job is not None:
        return Outcome(job)
    return _why_not(job_id, moment, early_counts=False)


def take_stale() -> Optional[dict]:
    """A job that should long have finished but may have no message left to
    finish it (the API died between insert and send, or a message was lost):
    queued well past its schedule, or processing well past its lease. It is
    marked as swept, so concurrent sweepers take each job once per period."""
    moment = clock.now()
    overdue = moment - timedelta(seconds=settings.get().stale_job_seconds)
    return db.get().jobs.find_one_and_update(
        {"$and": [
            {"$or": [{"status": "queued", "scheduledFor": {"$lt": overdue}},
                     {"status": "processing", "claimExpiresAt": {"$lt": overdue}}]},
            {"$or": [{"sweptAt": {"$exists": False}}, {"sweptAt": {"$lt": overdue}}]},
        ]},
        {"$set": {"sweptAt": moment}})


def unfinished():
    """Every job still queued or processing, for a queue that lost its
    messages (an embedded one, restarted)."""
    return db.get().jobs.find({"status": {"$in": list(UNFINISHED)}},
                              {"jobId": 1, "scheduledFor": 1})


def _finish_claimed(job, status, fields, deadline):
    condition = {"jobId": job["jobId"], "claimToken": job["claimToken"], "status": "processing"}
    delay = 0.5
    while True:
        try:
            finished = _finish(condition, status, fields, clock.now())
            if finished is None:
                # A write that landed but whose answer was lost looks like this too.
                finished = db.get().jobs.find_one(
                    {"jobId": job["jobId"], "claimToken": job["claimToken"], "status": status})
            return Outcome(finished) if finished else Outcome(reason="lost")
        except pymongo.errors.PyMongoError:
            if time.monotonic() + delay >= deadline:
                raise
            log.warning("job %s: writing the result failed; trying again in %.1fs",
                        job["jobId"], delay)
            time.sleep(delay)
            delay = min(delay * 2, 4.0)


def _finish(condition, status, fields, moment):
    # The claim token stays, so its holder can recognise its own write.
    return db.get().jobs.find_one_and_update(
        condition,
        {"$set": {"status": status, **fields, "completedAt": moment, "updatedAt": moment},
         "$unset": {"claimExpiresAt": ""}},
        return_document=pymongo.ReturnDocument.AFTER)


def _why_not(job_id, moment, early_counts):
    job = db.get().jobs.find_one({"jobId": job_id})
    if job is None:
        return Outcome(reason="unknown")
    if job["status"] in FINISHED:
        return Outcome(reason="finished")
    if early_counts and job["scheduledFor"] > moment:
        return Outcome(reason="early",
                       retry_in=(job["scheduledFor"] - moment).total_seconds())
    if job["status"] == "processing" and job["claimExpiresAt"] > moment:
        return Outcome(reason="held",
                       retry_in=(job["claimExpiresAt"] - moment).total_seconds())
    return Outcome(reason="held", retry_in=RECHECK_SECONDS)
