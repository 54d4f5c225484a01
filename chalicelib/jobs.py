"""Generation jobs as the API offers them: submitting, the contract's views
of a job, and saving a result. Every change of a job's state is in
`lifecycle`."""
import logging
import uuid
from datetime import datetime, timedelta

import pymongo
from bson import ObjectId

from chalicelib import clock, content, db, lifecycle, limits, queue, settings, validation
from chalicelib.errors import ApiError

log = logging.getLogger(__name__)

INVALID_TYPE = "Invalid content type. Must be one of: " + ", ".join(validation.CONTENT_TYPES)


def submit(user: dict, body: dict) -> dict:
    fields = validation.strings(body, "prompt", "contentType")
    validation.require(fields, ("prompt", "contentType"),
                       "Please provide prompt and contentType")
    if fields["contentType"] not in validation.CONTENT_TYPES:
        raise ApiError(400, INVALID_TYPE)
    delay = settings.get().generation_delay_seconds
    moment = clock.now()
    job_id = str(uuid.uuid4())
    limits.take_generation_slot(user["_id"], job_id, moment)
    job = {
        "jobId": job_id,
        "userId": user["_id"],
        "prompt": fields["prompt"],
        "contentType": fields["contentType"],
        "scheduledFor": moment + timedelta(seconds=delay),
        "createdAt": moment,
        "updatedAt": moment,
        "__v": 0,
    }
    lifecycle.create(job)
    try:
        queue.send_job(job["jobId"], delay)
    except Exception:
        log.exception("job %s could not be queued", job["jobId"])
        lifecycle.mark_error(job["jobId"], "The job could not be queued; please try again")
        raise ApiError(500, "Server error") from None
    log.info("job %s queued for %s", job["jobId"], clock.iso(job["scheduledFor"]))
    return {
        "message": "Content generation job queued successfully",
        "jobId": job["jobId"],
        "status": "queued",
        "delaySeconds": delay,
        "scheduledFor": clock.iso(job["scheduledFor"]),
        "estimatedCompletionTime": clock.iso(
            job["scheduledFor"] + timedelta(seconds=lifecycle.ESTIMATED_AI_SECONDS)),
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


def _owned(user, job_id):
    # By its jobId alone, which any planner serves from the unique index (the
    # embedded server's explain reports a scan for jobId and userId together).
    job = db.get().jobs.find_one({"jobId": job_id}) if isinstance(job_id, str) else None
    if job is None or job["userId"] != user["_id"]:
        raise ApiError(404, "Job not found")
    return job
