"""Every state change of a generation job, each one conditional update.

    queued ──claim──> processing ──complete──> completed
       │                  │       └──fail────> failed
       ├──────────────────┴──cancel──────────> failed
       └──────────────────┴──mark_error──────> error

The claim comes first, as in Powertools' idempotency: nothing with a side
effect (the paid AI call) happens until one conditional update has taken the
job, so duplicate messages and racing workers cannot call the AI twice, and
only the claim's holder can write its result. A claim is a lease: if its
holder dies, the job can be claimed again once the lease has run out.
What ends a job then `settle`s its cost reservation (`spend`) and trims its
user's finished jobs (`retention`): the transition itself, or for a claim's
result its holder, once for a batch.
"""
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import pymongo
import pymongo.errors

from chalicelib import clock, db, retention, settings, spend
from chalicelib.contract import CANCELLED, FINISHED, UNFINISHED

log = logging.getLogger(__name__)

# How long a due job is expected to take, for the estimates the API gives.
ESTIMATED_AI_SECONDS = 30
# A state seen between two updates of another worker: look again shortly.
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Outcome:
    """What a transition did. `job` is the job after it when it was taken;
    otherwise `reason` says why not ("unknown", "finished", "early", "held",
    "duplicate": another record of the same batch has it, or "lost": the
    holder's lease ran out and another worker claimed the job) and
    `retry_in` when it may be worth trying again."""
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
    """Take the job for processing: see `claim_many`."""
    return claim_many([job_id])[0]


def claim_many(job_ids) -> list:
    """Take each job of a batch for processing, in two round trips for the
    whole batch: due (`scheduledFor` has passed) and either `queued` or
    `processing` under a lease that has run out. One Outcome per id, in
    order; an id that comes again in the batch is a "duplicate" (its first
    occurrence has the job), a None id is "unknown".

    One update of every queued due job among them, giving each a claim token
    of its own (this claim's, with the jobId), then one read of them all:
    those holding their token are this claim's; the rest say why not. A
    lease that ran out is taken by a read, then an update conditional on the
    claim token read. Neither is a findAndModify nor a top-level $or: the
    embedded server scans the whole collection for each (5-25x slower beside
    500-3,000 jobs)."""
    moment = clock.now()
    jobs = db.get().jobs
    wanted = list(dict.fromkeys(job_id for job_id in job_ids if job_id is not None))
    token = uuid.uuid4().hex
    lease = timedelta(seconds=settings.get().claim_lease_seconds)
    if wanted:
        # A pipeline, so that each job's token is its own.
        jobs.update_many(
            {"jobId": {"$in": wanted}, "status": "queued", "scheduledFor": {"$lte": moment}},
            [{"$set": {"status": "processing", "claimToken": {"$concat": [token, ":", "$jobId"]},
                       "claimedAt": moment, "claimExpiresAt": moment + lease,
                       "updatedAt": moment,
                       "attempts": {"$add": [{"$ifNull": ["$attempts", 0]}, 1]}}}])
    found = {job["jobId"]: job for job in jobs.find({"jobId": {"$in": wanted}})} if wanted else {}
    outcomes, seen = [], set()
    for job_id in job_ids:
        if job_id is None:
            outcomes.append(Outcome(reason="unknown"))
        elif job_id in seen:
            outcomes.append(Outcome(reason="duplicate"))
        else:
            seen.add(job_id)
            outcomes.append(_outcome(jobs, found.get(job_id), f"{token}:{job_id}", moment, lease))
    return outcomes


def _outcome(jobs, job, token, moment, lease):
    """The batch's claim of one job, read after its update."""
    if job is not None and job.get("claimToken") == token and job["status"] == "processing":
        return Outcome(job)
    if not _claimable(job, moment):
        return _why_not(job, moment, early_counts=True)
    # Every claim changes the claim token, so this update matches only if no
    # other claim came since the read; the job it returns is the one read
    # with the update's changes.
    update = {"$set": {"status": "processing", "claimToken": token,
                       "claimedAt": moment, "claimExpiresAt": moment + lease,
                       "updatedAt": moment},
              "$inc": {"attempts": 1}}
    if jobs.update_one({"jobId": job["jobId"], "status": job["status"],
                        "claimToken": job.get("claimToken")}, update).matched_count:
        return Outcome(_applied(job, update))
    return _why_not(jobs.find_one({"jobId": job["jobId"]}), moment, early_counts=True)


def _claimable(job, moment) -> bool:
    if job is None or job["scheduledFor"] > moment:
        return False
    return job["status"] == "queued" or (job["status"] == "processing"
                                         and job["claimExpiresAt"] < moment)


def complete(job: dict, text: str, deadline: float, **extra) -> Outcome:
    """The claim holder's result. `deadline` (a time.monotonic()) bounds the
    retries of the write: the AI has been paid, so a database outage shorter
    than the time left must not throw the text away."""
    return _finish_claimed(job, "completed", {"generatedContent": text, **extra}, deadline)


def keep_variant(job: dict, variant: dict) -> Outcome:
    """The claim holder keeps one paid variant of several as soon as it is
    paid, not a state change but a write only the claim may make: a worker
    that dies before the last variant leaves the paid ones, and whoever
    claims the job next pays only for those still missing. `job` is the
    claimed job; the Outcome's job has the variant."""
    kept = job.get("variantResults", [])
    update = {"$set": {"variantResults": [*kept, variant], "updatedAt": clock.now()}}
    condition = {"jobId": job["jobId"], "claimToken": job["claimToken"], "status": "processing",
                 f"variantResults.{len(kept)}": {"$exists": False}}
    if db.get().jobs.update_one(condition, update).matched_count:
        return Outcome(_applied(job, update))
    return Outcome(reason="lost")


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
    return _why_not(db.get().jobs.find_one({"jobId": job_id}), moment, early_counts=False)


def cancel(job_id: str, user_id) -> Outcome:
    """The owner stops a job that has not finished, queued or processing: it
    ends `failed` at once. Its claim token goes, so a worker still streaming
    it can neither write nor mistake this write for its own; that worker
    sees `holds` turn false and stops."""
    job = _finish({"jobId": job_id, "userId": user_id, "status": {"$in": list(UNFINISHED)}},
                  "failed", {"error": CANCELLED, "claimToken": None}, clock.now())
    return Outcome(job) if job is not None else Outcome(reason="finished")


def owe_announcement(job_id: str):
    """Record that a finished job's `job_completed` is still owed: the API
    that cancelled it could not reach Redis (in AWS it runs outside the VPC),
    so a worker sends it."""
    db.get().jobs.update_one({"jobId": job_id, "status": {"$in": list(FINISHED)}},
                             {"$set": {"announcementOwed": True}})


def take_announcement(job_id: str) -> Outcome:
    """Take a job's owed announcement, once, whichever worker asks first."""
    job = db.get().jobs.find_one_and_update(
        {"jobId": job_id, "announcementOwed": True}, {"$unset": {"announcementOwed": ""}},
        return_document=pymongo.ReturnDocument.AFTER)
    return Outcome(job) if job is not None else Outcome(reason="announced")


def holds(job: dict) -> bool:
    """Whether the claim that took `job` still has it: not cancelled, and not
    claimed again by another worker after its lease ran out."""
    return db.get().jobs.find_one(
        {"jobId": job["jobId"], "claimToken": job["claimToken"], "status": "processing"},
        {"_id": 1}) is not None


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
    """An update rather than a findAndModify (see `claim`): while the claim
    token is its holder's, no other transition changes the job (the sweeper
    only marks it swept), so the job after it is the claimed one with the
    update applied. Its holder then `settle`s it."""
    condition = {"jobId": job["jobId"], "claimToken": job["claimToken"], "status": "processing"}
    delay = 0.5
    while True:
        try:
            update = _finished(status, fields, clock.now())
            if db.get().jobs.update_one(condition, update).matched_count:
                return Outcome(_applied(job, update))
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
    job = db.get().jobs.find_one_and_update(condition, _finished(status, fields, moment),
                                            return_document=pymongo.ReturnDocument.AFTER)
    if job is not None:
        settle([job])
    return job


def settle(ended):
    """After jobs have ended: settle their cost reservations, then trim their
    users' finished jobs, in a few round trips for them all (a worker calls
    it once for its batch, for the jobs its claims finished). A failure to
    settle leaves the reservations counted (the caps err towards refusing)
    rather than losing the jobs' ends and their announcements."""
    try:
        spend.settle(ended)
    except pymongo.errors.PyMongoError:
        log.exception("jobs %s: their costs could not be settled; their reservations stand",
                      [job["jobId"] for job in ended])
    retention.trim(job["userId"] for job in ended)


def _finished(status, fields, moment):
    """Every finish: the claim token stays, so its holder can recognise its
    own write; `expiresAt`, which only a finish sets, is when the TTL index
    removes the job."""
    return {"$set": {"status": status, **fields, "completedAt": moment, "updatedAt": moment,
                     "expiresAt": retention.expires(moment)},
            "$unset": {"claimExpiresAt": ""}}


def _applied(job, update):
    """`job` as `update` leaves it."""
    changed = {**job, **update.get("$set", {})}
    for name, step in update.get("$inc", {}).items():
        changed[name] = changed.get(name, 0) + step
    for name in update.get("$unset", {}):
        changed.pop(name, None)
    return changed


def _why_not(job, moment, early_counts):
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
