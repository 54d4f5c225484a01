"""Generation jobs as the API offers them: submitting, reading and saving a
result, answered in the contract's views. Every change of a job's state is in
`lifecycle`."""
import logging
import uuid
from datetime import timedelta

import pymongo

from chalicelib import (auth, clock, content, contract, db, lifecycle, limits, logs, metrics,
                        notify, options, pages, queue, retention, settings, spend, validation)
from chalicelib.errors import ApiError

log = logging.getLogger(__name__)

# What a job is asked to do: a regenerated job is queued with the same.
INPUTS = ("prompt", "contentType", "options", "voice", "rewrite")


def submit(user: dict, body: dict, source_ip: str) -> dict:
    fields = validation.required_strings(body, ("prompt", "contentType"),
                                         contract.MISSING_JOB_FIELDS)
    validation.content_type(fields["contentType"], contract.invalid_job_content_type())
    chosen, voice = options.validate(user, body, fields["contentType"])
    inputs = {"prompt": fields["prompt"], "contentType": fields["contentType"],
              "options": chosen, "voice": voice}
    return _queue(user, {name: value for name, value in inputs.items() if value}, source_ip)


def regenerate(user: dict, job_id: str, source_ip: str) -> dict:
    """A new job with the same inputs as one of the user's jobs."""
    job = _owned(user, job_id)
    return _queue(user, {name: job[name] for name in INPUTS if job.get(name)}, source_ip)


def rewrite(user: dict, content_id: str, body: dict, source_ip: str) -> dict:
    """A job that rewrites a library item as instructed; it is queued,
    processed and announced as any other job."""
    fields = {name: value.strip() for name, value in
              validation.strings(body, "language", "note").items() if value.strip()}
    fields.update(validation.strings(body, "instruction"))
    if fields.get("instruction") not in contract.REWRITES:
        raise ApiError(400, contract.bad_instruction())
    if fields["instruction"] == "translate" and "language" not in fields:
        raise ApiError(400, contract.LANGUAGE_TO_TRANSLATE)
    item = content.owned(user, content_id)
    if len(item["body"]) > contract.MAX_REWRITE_CHARACTERS:
        raise ApiError(400, contract.TOO_LONG_TO_REWRITE)
    return _queue(user, {"prompt": item["title"], "contentType": item["type"],
                         "rewrite": {"contentId": str(item["_id"]),
                                     "instruction": fields.pop("instruction"), **fields,
                                     "source": item["body"]}}, source_ip)


def _queue(user, inputs, source_ip):
    """Take the job's limit slots (one per variant) and reserve its estimated
    cost, store it, queue its message."""
    delay = settings.get().generation_delay_seconds
    moment = clock.now()
    job_id = str(uuid.uuid4())
    slots = options.variants(inputs)
    reserved = spend.reserve(user["_id"], source_ip, moment, slots, spend.estimate(inputs, slots))
    try:
        limits.take_generation_slot(user["_id"], job_id, moment, slots=slots)
    except ApiError:
        spend.release(reserved, user["_id"], source_ip, slots)
        raise
    job = {
        "jobId": job_id,
        "userId": user["_id"],
        **inputs,
        "spend": reserved,
        "scheduledFor": moment + timedelta(seconds=delay),
        "createdAt": moment,
        "updatedAt": moment,
        "__v": 0,
    }
    lifecycle.create(job)
    logs.add(jobId=job["jobId"])
    # The deletion removes the user before their jobs: a job stored after
    # those went is found here, one stored before went with them.
    if not auth.exists(user["_id"]):
        log.info("job %s: its user was deleted meanwhile; withdrawn", job["jobId"])
        forget(user)
        raise ApiError(401, contract.NOT_AUTHORIZED)
    try:
        queue.send_job(job["jobId"], delay)
    except Exception:
        log.exception("job %s could not be queued", job["jobId"])
        lifecycle.mark_error(job["jobId"], contract.NOT_QUEUED)
        metrics.job_finished("error")
        raise ApiError(500, contract.SERVER_ERROR) from None
    log.info("job %s queued for %s", job["jobId"], clock.iso(job["scheduledFor"]))
    metrics.job_queued()
    return contract.job_queued(job, delay, job["scheduledFor"] + timedelta(
        seconds=lifecycle.ESTIMATED_AI_SECONDS))


def forget(user: dict):
    """Remove a deleted user's jobs and what their submits counted: each
    unfinished job is cancelled first, so a worker holding it stops and its
    reservation is settled, and one whose message is still due finds no job
    to pay for; then every job, the usage kept of those trimmed, the
    generation quota and the cost counters. The deletion calls it, and so
    does a submit that outlasted it."""
    jobs = db.get().jobs
    for job in jobs.find({"userId": user["_id"], "status": {"$in": list(lifecycle.UNFINISHED)}},
                         {"jobId": 1}):
        lifecycle.cancel(job["jobId"], user["_id"])
    jobs.delete_many({"userId": user["_id"]})
    retention.forget(user["_id"])
    limits.forget(user["_id"], user["email"])
    spend.forget(user["_id"])


def listing(request, params: dict) -> tuple:
    """GET /generate-content: (the request's user's jobs, newest first, all
    of them or the page asked for; the next page's cursor or None)."""
    return pages.listing(request, params, "jobs", contract.JOB)


def status_for(user: dict, job_id: str) -> dict:
    return contract.JOB_STATUS(_owned(user, job_id))


def cancel(user: dict, job_id: str) -> dict:
    """The owner stops a job that has not finished: it ends failed at once
    and its sockets are told; a worker streaming it stops at its next look."""
    logs.add(jobId=job_id)
    cancelled = lifecycle.cancel(job_id, user["_id"])
    if not cancelled.taken:
        raise ApiError(400, contract.JOB_FINISHED, currentStatus=_owned(user, job_id)["status"])
    log.info("job %s: cancelled by its owner", job_id)
    if not notify.job_completed(contract.job_completed(cancelled.job)):
        # A worker can reach Redis: it sends the event when this message arrives.
        lifecycle.owe_announcement(job_id)
        queue.send_job(job_id, 0)
    return contract.JOB_STATUS(cancelled.job)


def save(user: dict, job_id: str, body: dict) -> dict:
    """The job's result as a new library item; with `variant` (an addition)
    one of its variants; with `replace: true` (an addition) a rewrite's
    result written back into the item it rewrote."""
    fields = validation.strings(body, "title")
    if "replace" in body and not isinstance(body["replace"], bool):
        raise ApiError(400, contract.REPLACE_NOT_BOOLEAN)
    job = _owned(user, job_id)
    if job["status"] != "completed":
        raise ApiError(400, contract.JOB_INCOMPLETE,
                       currentStatus=job["status"])
    if not job.get("generatedContent"):
        raise ApiError(400, contract.NO_GENERATED_CONTENT)
    text = _chosen_text(job, body)
    title = fields.get("title", "").strip()
    if replaces(body):
        if not job.get("rewrite"):
            raise ApiError(400, contract.NOT_A_REWRITE)
        changed = content.update(user, job["rewrite"]["contentId"],
                                 {"body": text, **({"title": title} if title else {})})
        return {"message": contract.CONTENT_REPLACED, "content": changed}
    saved = content.insert(user, title or default_title(job["prompt"]), job["contentType"], text)
    return contract.saved(saved)


def replaces(body: dict) -> bool:
    """Whether a save writes back into the rewritten item (200) rather than
    creating one (201)."""
    return body.get("replace") is True


def _chosen_text(job, body):
    if "variant" not in body:
        return job["generatedContent"]
    variants = job.get("variants") or [job["generatedContent"]]
    chosen = body["variant"]
    if isinstance(chosen, bool) or not isinstance(chosen, int) \
            or not 1 <= chosen <= len(variants):
        raise ApiError(400, contract.no_such_variant(len(variants)))
    return variants[chosen - 1]


def default_title(prompt: str) -> str:
    words = " ".join(prompt.split())
    if len(words) <= 60:
        return words
    return words[:57].rsplit(" ", 1)[0] + "..."


def usage_totals(user: dict) -> dict:
    """The user's jobs submitted this calendar month (UTC) and the tokens and
    cost of those that report usage, those trimmed since included."""
    start = clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    totals = {"start": clock.iso(start), **retention.trimmed_usage(user["_id"], start)}
    for job in db.get().jobs.find({"userId": user["_id"], "createdAt": {"$gte": start}},
                                  {"usage": 1}):
        totals["jobs"] += 1
        for key in ("promptTokens", "completionTokens", "totalTokens", "cost"):
            totals[key] += (job.get("usage") or {}).get(key, 0)
    # Costs are fractions of a cent; summing floats leaves noise in the tail.
    totals["cost"] = round(totals["cost"], 8)
    return totals


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
        raise ApiError(404, contract.JOB_NOT_FOUND)
    return job
