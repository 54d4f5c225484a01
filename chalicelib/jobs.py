"""Generation jobs: the job document is the source of truth, and every state
change is one conditional update, so redelivered messages and racing workers
cannot call the AI twice or overwrite each other's results."""
import logging
import uuid
from datetime import datetime, timedelta

import pymongo
from bson import ObjectId

from chalicelib import clock, content, db, logs, metrics, queue, settings, validation
from chalicelib.errors import ApiError

log = logging.getLogger(__name__)

FINISHED = ("completed", "failed", "error")
ESTIMATED_AI_SECONDS = 30
INVALID_TYPE = "Invalid content type. Must be one of: " + ", ".join(validation.CONTENT_TYPES)


def submit(user: dict, body: dict) -> dict:
    fields = validation.required_strings(body, ("prompt", "contentType"),
                                         "Please provide prompt and contentType")
    if fields["contentType"] not in validation.CONTENT_TYPES:
        raise ApiError(400, INVALID_TYPE)
    delay = settings.get().generation_delay_seconds
    moment = clock.now()
    job = {
        "jobId": str(uuid.uuid4()),
        "userId": user["_id"],
        "prompt": fields["prompt"],
        "contentType": fields["contentType"],
        "status": "queued",
        "scheduledFor": moment + timedelta(seconds=delay),
        "createdAt": moment,
        "updatedAt": moment,
        "__v": 0,
    }
    db.get().jobs.insert_one(job)
    logs.add(jobId=job["jobId"])
    try:
        queue.send_job(job["jobId"], delay)
    except Exception:
        log.exception("job %s could not be queued", job["jobId"])
        _finish(job["jobId"], {"status": "queued"}, "error",
                {"error": "The job could not be queued; please try again"})
        metrics.job_finished("error")
        raise ApiError(500, "Server error") from None
    log.info("job %s queued for %s", job["jobId"], clock.iso(job["scheduledFor"]))
    metrics.job_queued()
    return {
        "message": "Content generation job queued successfully",
        "jobId": job["jobId"],
        "status": "queued",
        "delaySeconds": delay,
        "scheduledFor": clock.iso(job["scheduledFor"]),
        "estimatedCompletionTime": clock.iso(
            job["scheduledFor"] + timedelta(seconds=ESTIMATED_AI_SECONDS)),
    }


def list_for(user: dict) -> list:
    cursor = db.get().jobs.find({"userId": user["_id"]}).sort(
        [("createdAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
    return [document(job) for job in cursor]


def status_for(user: dict, job_id: str) -> dict:
    job = _owned(user, job_id)
    view = {key: job[key] for key in ("jobId", "status", "contentType", "prompt")}
    view["scheduledFor"] = clock.iso(job["scheduledFor"])
    view["createdAt"] = clock.iso(job["createdAt"])
    for key in ("generatedContent", "error"):
        if key in job:
            view[key] = job[key]
    if "completedAt" in job:
        view["completedAt"] = clock.iso(job["completedAt"])
    return view


def save(user: dict, job_id: str, body: dict) -> dict:
    fields = validation.strings(body, "title")
    job = _owned(user, job_id)
    if job["status"] != "completed":
        raise ApiError(400, "Cannot save content from incomplete job",
                       currentStatus=job["status"])
    if not job.get("generatedContent"):
        raise ApiError(400, "No generated content available")
    title = fields.get("title", "").strip() or default_title(job["prompt"])
    saved = content.insert(user, title, job["contentType"], job["generatedContent"])
    return {"message": "Content saved successfully", "content": content.public(saved)}


def default_title(prompt: str) -> str:
    words = " ".join(prompt.split())
    if len(words) <= 60:
        return words
    return words[:57].rsplit(" ", 1)[0] + "..."


def document(job: dict) -> dict:
    """The stored job as the contract lists it; claim bookkeeping stays inside."""
    view = {"_id": str(job["_id"])}
    for key in ("jobId", "userId", "prompt", "contentType", "status",
                "generatedContent", "error", "scheduledFor", "completedAt",
                "createdAt", "updatedAt"):
        if key not in job:
            continue
        value = job[key]
        if isinstance(value, datetime):
            value = clock.iso(value)
        elif isinstance(value, ObjectId):
            value = str(value)
        view[key] = value
    view["__v"] = job.get("__v", 0)
    return view


def find(job_id: str):
    return db.get().jobs.find_one({"jobId": job_id})


def claim(job_id: str):
    """Take the job for processing: from `queued`, or from `processing` whose
    lease has run out (a crashed worker). Returns the job with its claim
    token, or None when it is finished or someone else holds a live claim."""
    moment = clock.now()
    lease = timedelta(seconds=settings.get().claim_lease_seconds)
    return db.get().jobs.find_one_and_update(
        {"jobId": job_id, "$or": [
            {"status": "queued"},
            {"status": "processing", "claimExpiresAt": {"$lt": moment}},
        ]},
        {"$set": {"status": "processing", "claimToken": uuid.uuid4().hex,
                  "claimedAt": moment, "claimExpiresAt": moment + lease,
                  "updatedAt": moment},
         "$inc": {"attempts": 1}},
        return_document=pymongo.ReturnDocument.AFTER)


def complete(job: dict, text: str):
    return _finish(job["jobId"], {"claimToken": job["claimToken"], "status": "processing"},
                   "completed", {"generatedContent": text})


def fail(job: dict, message: str):
    return _finish(job["jobId"], {"claimToken": job["claimToken"], "status": "processing"},
                   "failed", {"error": message})


def mark_error(job_id: str, message: str):
    """A system fault outlived the queue's retries: whatever state the job is
    in, unless finished, it ends as `error`."""
    return _finish(job_id, {"status": {"$nin": list(FINISHED)}}, "error", {"error": message})


def event_payload(job: dict) -> dict:
    """`job_completed` as the contract defines it: status completed or failed."""
    payload = {"userId": str(job["userId"]), "jobId": job["jobId"],
               "status": "completed" if job["status"] == "completed" else "failed"}
    if job["status"] == "completed":
        payload["generatedContent"] = job["generatedContent"]
    else:
        payload["error"] = job["error"]
    payload["completedAt"] = clock.iso(job["completedAt"])
    return payload


def take_stale():
    """A job that should long have finished but has no message left to
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


def _finish(job_id, condition, status, fields):
    moment = clock.now()
    return db.get().jobs.find_one_and_update(
        {"jobId": job_id, **condition},
        {"$set": {"status": status, **fields, "completedAt": moment, "updatedAt": moment},
         "$unset": {"claimToken": "", "claimExpiresAt": ""}},
        return_document=pymongo.ReturnDocument.AFTER)


def _owned(user, job_id):
    job = db.get().jobs.find_one({"jobId": job_id, "userId": user["_id"]}) \
        if isinstance(job_id, str) else None
    if job is None:
        raise ApiError(404, "Job not found")
    return job
