"""Generation jobs as the API offers them: submitting, the contract's views
of a job, and saving a result. Every change of a job's state is in
`lifecycle`."""
import logging
import uuid
from datetime import datetime, timedelta

import pymongo
from bson import ObjectId

from chalicelib import (clock, content, db, lifecycle, limits, logs, metrics, notify, options,
                        queue, settings, validation)
from chalicelib.errors import ApiError

log = logging.getLogger(__name__)

INVALID_TYPE = "Invalid content type. Must be one of: " + ", ".join(validation.CONTENT_TYPES)


MAX_REWRITE_CHARACTERS = 20_000
REPLACED = "Content updated successfully"
REPLACE_NOT_BOOLEAN = "replace must be true or false"
NOT_A_REWRITE = "Only a rewrite's result can replace an item"
BAD_INSTRUCTION = "instruction must be one of: " + ", ".join(options.REWRITES)
LANGUAGE_TO_TRANSLATE = "Please provide the language to translate into"
TOO_LONG_TO_REWRITE = (f"Content is too long to rewrite: at most {MAX_REWRITE_CHARACTERS} "
                       "characters")
# What a job is asked to do: a regenerated job is queued with the same.
INPUTS = ("prompt", "contentType", "options", "voice", "rewrite")


def submit(user: dict, body: dict) -> dict:
    fields = validation.required_strings(body, ("prompt", "contentType"),
                                         "Please provide prompt and contentType")
    if fields["contentType"] not in validation.CONTENT_TYPES:
        raise ApiError(400, INVALID_TYPE)
    chosen, voice = options.validate(user, body, fields["contentType"])
    inputs = {"prompt": fields["prompt"], "contentType": fields["contentType"],
              "options": chosen, "voice": voice}
    return _queue(user, {name: value for name, value in inputs.items() if value})


def regenerate(user: dict, job_id: str) -> dict:
    """A new job with the same inputs as one of the user's jobs."""
    job = _owned(user, job_id)
    return _queue(user, {name: job[name] for name in INPUTS if job.get(name)})


def _queue(user, inputs):
    """Take the job's limit slots, store it, and queue its message."""
    delay = settings.get().generation_delay_seconds
    moment = clock.now()
    job_id = str(uuid.uuid4())
    limits.take_generation_slot(user["_id"], job_id, moment, slots=options.variants(inputs))
    job = {
        "jobId": job_id,
        "userId": user["_id"],
        **inputs,
        "scheduledFor": moment + timedelta(seconds=delay),
        "createdAt": moment,
        "updatedAt": moment,
        "__v": 0,
    }
    lifecycle.create(job)
    logs.add(jobId=job["jobId"])
    try:
        queue.send_job(job["jobId"], delay)
    except Exception:
        log.exception("job %s could not be queued", job["jobId"])
        lifecycle.mark_error(job["jobId"], "The job could not be queued; please try again")
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
            job["scheduledFor"] + timedelta(seconds=lifecycle.ESTIMATED_AI_SECONDS)),
    }


def list_for(user: dict) -> list:
    cursor = db.get().jobs.find({"userId": user["_id"]}).sort(
        [("createdAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
    return [document(job) for job in cursor]


def status_for(user: dict, job_id: str) -> dict:
    return _status_view(_owned(user, job_id))


def cancel(user: dict, job_id: str) -> dict:
    """The owner stops a job that has not finished: it ends failed at once
    and its sockets are told; a worker streaming it stops at its next look."""
    logs.add(jobId=job_id)
    cancelled = lifecycle.cancel(job_id, user["_id"])
    if not cancelled.taken:
        raise ApiError(400, "Job already finished", currentStatus=_owned(user, job_id)["status"])
    log.info("job %s: cancelled by its owner", job_id)
    if not notify.job_completed(event_payload(cancelled.job)):
        # A worker can reach Redis: it sends the event when this message arrives.
        lifecycle.owe_announcement(job_id)
        queue.send_job(job_id, 0)
    return _status_view(cancelled.job)


def _status_view(job: dict) -> dict:
    view = {key: job[key] for key in ("jobId", "status", "contentType", "prompt")}
    view["scheduledFor"] = clock.iso(job["scheduledFor"])
    view["createdAt"] = clock.iso(job["createdAt"])
    for key in ("generatedContent", "error"):
        if key in job:
            view[key] = job[key]
    if "completedAt" in job:
        view["completedAt"] = clock.iso(job["completedAt"])
    return {**view, **_additions(job)}


def save(user: dict, job_id: str, body: dict) -> dict:
    """The job's result as a new library item; with `variant` (an addition)
    one of its variants; with `replace: true` (an addition) a rewrite's
    result written back into the item it rewrote."""
    fields = validation.strings(body, "title")
    if "replace" in body and not isinstance(body["replace"], bool):
        raise ApiError(400, REPLACE_NOT_BOOLEAN)
    job = _owned(user, job_id)
    if job["status"] != "completed":
        raise ApiError(400, "Cannot save content from incomplete job",
                       currentStatus=job["status"])
    if not job.get("generatedContent"):
        raise ApiError(400, "No generated content available")
    text = _chosen_text(job, body)
    title = fields.get("title", "").strip()
    if replaces(body):
        if not job.get("rewrite"):
            raise ApiError(400, NOT_A_REWRITE)
        changed = content.update(user, job["rewrite"]["contentId"],
                                 {"body": text, **({"title": title} if title else {})})
        return {"message": REPLACED, "content": changed}
    saved = content.insert(user, title or default_title(job["prompt"]), job["contentType"], text)
    return {"message": "Content saved successfully", "content": content.public(saved)}


def replaces(body: dict) -> bool:
    """Whether a save writes back into the rewritten item (200) rather than
    creating one (201)."""
    return body.get("replace") is True


def _chosen_text(job, body):
    variants = job.get("variants") or [job["generatedContent"]]
    if "variant" not in body:
        return job["generatedContent"]
    chosen = body["variant"]
    if isinstance(chosen, bool) or not isinstance(chosen, int) \
            or not 1 <= chosen <= len(variants):
        raise ApiError(400, bad_variant_message(len(variants)))
    return variants[chosen - 1]


def bad_variant_message(count: int) -> str:
    return f"variant must be a whole number from 1 to {count}"


def rewrite(user: dict, content_id: str, body: dict) -> dict:
    """A job that rewrites a library item as instructed; it is queued,
    processed and announced as any other job."""
    fields = {name: value.strip() for name, value in
              validation.strings(body, "language", "note").items() if value.strip()}
    fields.update(validation.strings(body, "instruction"))
    if fields.get("instruction") not in options.REWRITES:
        raise ApiError(400, BAD_INSTRUCTION)
    if fields["instruction"] == "translate" and "language" not in fields:
        raise ApiError(400, LANGUAGE_TO_TRANSLATE)
    item = content.owned(user, content_id)
    if len(item["body"]) > MAX_REWRITE_CHARACTERS:
        raise ApiError(400, TOO_LONG_TO_REWRITE)
    return _queue(user, {"prompt": item["title"], "contentType": item["type"],
                         "rewrite": {"contentId": str(item["_id"]),
                                     "instruction": fields.pop("instruction"), **fields,
                                     "source": item["body"]}})


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
    return {**view, **_additions(job)}


def _additions(job: dict) -> dict:
    """What a job shows beyond the contract, when it has it: `usage` and
    `model`; the options it was asked with, what it rewrites, its variants,
    and a notice of what was changed to fit (a caption cut to its
    platform's limit)."""
    view = {key: job[key] for key in ("usage", "model", "options") if job.get(key)}
    if job.get("rewrite"):
        view["rewrite"] = {key: value for key, value in job["rewrite"].items()
                           if key != "source"}
    return {**view, **{key: job[key] for key in ("variants", "notice") if job.get(key)}}


def usage_totals(user: dict) -> dict:
    """The user's jobs submitted this calendar month (UTC) and the tokens and
    cost of those that report usage."""
    start = clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    totals = {"start": clock.iso(start), "jobs": 0, "promptTokens": 0,
              "completionTokens": 0, "totalTokens": 0, "cost": 0}
    for job in db.get().jobs.find({"userId": user["_id"], "createdAt": {"$gte": start}},
                                  {"usage": 1}):
        totals["jobs"] += 1
        for key in ("promptTokens", "completionTokens", "totalTokens", "cost"):
            totals[key] += (job.get("usage") or {}).get(key, 0)
    # Costs are fractions of a cent; summing floats leaves noise in the tail.
    totals["cost"] = round(totals["cost"], 8)
    return totals


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


def finished_since(user_id, since, limit: int) -> list:
    """The user's jobs finished after `since`, oldest first."""
    return list(db.get().jobs.find(
        {"userId": user_id, "completedAt": {"$gt": since},
         "status": {"$in": list(lifecycle.FINISHED)}}
    ).sort([("completedAt", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)]).limit(limit))


def _owned(user, job_id):
    # By its jobId alone, which any planner serves from the unique index (the
    # embedded server's explain reports a scan for jobId and userId together).
    job = db.get().jobs.find_one({"jobId": job_id}) if isinstance(job_id, str) else None
    if job is None or job["userId"] != user["_id"]:
        raise ApiError(404, "Job not found")
    return job
