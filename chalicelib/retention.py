"""How long finished jobs are kept: FINISHED_JOB_RETENTION_DAYS after they
finish, by a TTL index on `expiresAt`, which only a job's finish sets; and
at most MAX_FINISHED_JOBS_PER_USER per user, the newest by when they
finished, trimmed once jobs finish (by a worker, once its batch has ended).
A job `queued` or `processing` has no `expiresAt` and is never trimmed,
however old. Together they bound what the contract's unpaged
GET /generate-content answers.

A trimmed job's usage is added to its user's total for the month it was
submitted in first, so GET /usage's month still counts it. The TTL removes
nothing submitted this month while the retention is at least 31 days."""
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import pymongo
import pymongo.errors

from chalicelib import clock, db, settings
from chalicelib.contract import FINISHED

log = logging.getLogger(__name__)

TOTALS = ("promptTokens", "completionTokens", "totalTokens", "cost")
# A month's total of trimmed jobs is read only during that month.
MONTH_TOTAL_LIFETIME = timedelta(days=62)
# Far longer than a trim's three writes take.
TRIM_LEASE = timedelta(minutes=1)
# Every job of a batch's users (ten at most) in the reply to the trim's read.
FIRST_BATCH = 1000


def expires(finished_at: datetime) -> datetime:
    return finished_at + timedelta(days=settings.get().finished_job_retention_days)


def trim(user_ids):
    """Remove the finished jobs of these users beyond the newest the count
    keeps, in a few round trips for them all (a worker trims once per
    batch): one read of their finished jobs; one update marking those beyond
    as this trim's, so that a job two trims both found is taken, and its
    usage counted, by one; one delete of them; one write adding their usage
    to their months' totals. A mark older than TRIM_LEASE is a trim that
    died midway, and may be taken again. Tidying only: a database error is
    logged, and the next finish of the user trims."""
    keep = settings.get().max_finished_jobs_per_user
    jobs = db.get().jobs
    users = list(dict.fromkeys(user_ids))
    if not users:
        return
    try:
        # All their jobs, which this very count and the active cap bound, in
        # one reply (a first batch is otherwise 101 documents), by userId
        # alone: the embedded server scans the collection for an $in beside
        # a range. Only a finish sets completedAt.
        found = jobs.find({"userId": {"$in": users}},
                          {"userId": 1, "createdAt": 1, "usage": 1, "completedAt": 1},
                          batch_size=FIRST_BATCH)
        finished = sorted((job for job in found if job.get("completedAt")),
                          key=lambda job: (job["completedAt"], job["_id"]), reverse=True)
        kept, beyond = defaultdict(int), []
        for job in finished:
            kept[job["userId"]] += 1
            if kept[job["userId"]] > keep:
                beyond.append(job)
        if beyond:
            _remove(jobs, beyond)
    except pymongo.errors.PyMongoError:
        log.warning("finished jobs of users %s not trimmed", users, exc_info=True)


def _remove(jobs, beyond):
    ids, moment, token = [job["_id"] for job in beyond], clock.now(), uuid.uuid4().hex
    # The status again, so that nothing unfinished can ever go.
    marked = jobs.update_many({"_id": {"$in": ids}, "status": {"$in": list(FINISHED)},
                               "trimmedAt": {"$not": {"$gt": moment - TRIM_LEASE}}},
                              {"$set": {"trimToken": token, "trimmedAt": moment}}).modified_count
    if marked < len(ids):
        # Another trim took some: only those marked with this token are ours.
        ours = {job["_id"] for job in jobs.find({"_id": {"$in": ids}, "trimToken": token},
                                                {"_id": 1})}
        beyond = [job for job in beyond if job["_id"] in ours]
    if beyond:
        jobs.delete_many({"_id": {"$in": ids}, "trimToken": token})
        _add_to_months(beyond)


def trimmed_usage(user_id, month_start: datetime) -> dict:
    """The jobs trimmed from the month starting at `month_start` and their
    usage: {"jobs", "promptTokens", ...}."""
    total = db.get().usage_months.find_one({"_id": _month_key(user_id, month_start)}) or {}
    return {key: total.get(key, 0) for key in ("jobs", *TOTALS)}


def forget(user_id):
    db.get().usage_months.delete_many({"userId": user_id})


def _add_to_months(trimmed):
    months = defaultdict(lambda: dict.fromkeys(("jobs", *TOTALS), 0))
    for job in trimmed:
        start = job["createdAt"].replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        total = months[(job["userId"], start)]
        total["jobs"] += 1
        for key in TOTALS:
            total[key] += (job.get("usage") or {}).get(key, 0)
    db.get().usage_months.bulk_write([pymongo.UpdateOne(
        {"_id": _month_key(user_id, start)},
        {"$inc": total,
         "$setOnInsert": {"userId": user_id, "expiresAt": start + MONTH_TOTAL_LIFETIME}},
        upsert=True) for (user_id, start), total in months.items()], ordered=False)


def _month_key(user_id, month_start):
    return f"{user_id}:{month_start:%Y-%m}"
