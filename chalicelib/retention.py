"""How long finished jobs are kept: FINISHED_JOB_RETENTION_DAYS after they
finish, by a TTL index on `expiresAt`, which only a job's finish sets; and
at most MAX_FINISHED_JOBS_PER_USER per user, the newest by when they
finished, trimmed after each finish. A job `queued` or `processing` has no
`expiresAt` and is never trimmed, however old. Together they bound what the
contract's unpaged GET /generate-content answers.

A trimmed job's usage is added to its user's total for the month it was
submitted in first, so GET /usage's month still counts it. The TTL removes
nothing submitted this month while the retention is at least 31 days."""
import logging
from datetime import datetime, timedelta, timezone

import pymongo
import pymongo.errors

from chalicelib import db, settings
from chalicelib.contract import FINISHED

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TOTALS = ("promptTokens", "completionTokens", "totalTokens", "cost")
# A month's total of trimmed jobs is read only during that month.
MONTH_TOTAL_LIFETIME = timedelta(days=62)


def expires(finished_at: datetime) -> datetime:
    return finished_at + timedelta(days=settings.get().finished_job_retention_days)


def trim(user_id):
    """Remove the user's finished jobs beyond the newest the count keeps.
    Tidying only: a database error is logged, and the next finish trims."""
    keep = settings.get().max_finished_jobs_per_user
    jobs = db.get().jobs
    try:
        # Only a finish sets completedAt, so this names the finished jobs and
        # rides the (userId, completedAt) index; the embedded server scans
        # the collection if the status is named too.
        beyond = list(jobs.find({"userId": user_id, "completedAt": {"$gt": EPOCH}},
                                {"createdAt": 1, "usage": 1})
                      .sort([("completedAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
                      .skip(keep))
        for job in beyond:
            # One by one, so that a job two trims both found is counted once;
            # the status again, so that nothing unfinished can ever go.
            if jobs.delete_one({"_id": job["_id"],
                                "status": {"$in": list(FINISHED)}}).deleted_count:
                _add_to_month(user_id, job)
    except pymongo.errors.PyMongoError:
        log.warning("finished jobs of user %s not trimmed", user_id, exc_info=True)


def trimmed_usage(user_id, month_start: datetime) -> dict:
    """The jobs trimmed from the month starting at `month_start` and their
    usage: {"jobs", "promptTokens", ...}."""
    total = db.get().usage_months.find_one({"_id": _month_key(user_id, month_start)}) or {}
    return {key: total.get(key, 0) for key in ("jobs", *TOTALS)}


def forget(user_id):
    db.get().usage_months.delete_many({"userId": user_id})


def _add_to_month(user_id, job):
    usage = job.get("usage") or {}
    start = job["createdAt"].replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    db.get().usage_months.update_one(
        {"_id": _month_key(user_id, start)},
        {"$inc": {"jobs": 1, **{key: usage.get(key, 0) for key in TOTALS}},
         "$setOnInsert": {"userId": user_id, "expiresAt": start + MONTH_TOTAL_LIFETIME}},
        upsert=True)


def _month_key(user_id, month_start):
    return f"{user_id}:{month_start:%Y-%m}"
