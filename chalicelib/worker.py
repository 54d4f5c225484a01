"""The queue consumer: each SQS record is one job, processed on its own and
reported back on its own (`batchItemFailures`), so a bad record never makes
SQS deliver the good ones again."""
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from chalicelib import clock, jobs, logs, metrics, notify, openrouter, queue

log = logging.getLogger(__name__)

DEAD_LETTER_ERROR = "The job could not be processed because of a system error"


class _Later(Exception):
    """The record must come back later: it arrived early, or another worker
    holds the job's claim."""


def process_batch(records, context) -> dict:
    """`records` are the Lambda event's SQS records, as dicts. They are
    processed side by side: each waits mostly on the AI, and one after the
    other a batch of ten 30 s calls would outlast the function's timeout."""
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        outcomes = list(pool.map(
            lambda record: _outcome(record, lambda r: process_record(r, context)), records))
    return _failures(records, outcomes)


def process_dead_letters(records) -> dict:
    return _per_record(records, process_dead_letter)


def process_record(record, context):
    logs.bind(context, messageId=record["messageId"])
    job_id = _job_id(record)
    logs.add(jobId=job_id)
    if job_id is None:
        return
    job = jobs.find(job_id)
    if job is None:
        log.warning("job %s: message for an unknown job acknowledged", job_id)
        return
    if job["status"] in jobs.FINISHED:
        log.info("job %s: already %s; duplicate message acknowledged", job_id, job["status"])
        return
    early = (job["scheduledFor"] - clock.now()).total_seconds()
    if early > 0:
        queue.postpone(record["receiptHandle"], early)
        log.info("job %s: arrived %.1fs early; returned to the queue", job_id, early)
        raise _Later()
    claimed = jobs.claim(job_id)
    if claimed is None:
        _return_until_the_claim_ends(record, job_id)
        return
    log.info("job %s: claimed (attempt %d)", job_id, claimed["attempts"])
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    try:
        text = openrouter.generate(claimed["prompt"], claimed["contentType"], deadline)
    except openrouter.GenerationFailed as failure:
        finished = jobs.fail(claimed, str(failure))
    else:
        finished = jobs.complete(claimed, text)
    if finished is None:
        log.warning("job %s: claim lost before the result was written", job_id)
        return
    log.info("job %s: %s", job_id, finished["status"])
    metrics.job_finished(finished["status"])
    notify.job_completed(jobs.event_payload(finished))


def _return_until_the_claim_ends(record, job_id):
    """Someone holds a live claim. Keep the message until the lease ends:
    if the holder dies or cannot write its result, this message is the one
    that gets the job finished."""
    job = jobs.find(job_id)
    if job is None or job["status"] != "processing":
        log.info("job %s: finished meanwhile; message acknowledged", job_id)
        return
    remaining = (job["claimExpiresAt"] - clock.now()).total_seconds()
    queue.postpone(record["receiptHandle"], remaining)
    log.info("job %s: claimed elsewhere; message returns in %.0fs", job_id, remaining)
    raise _Later()


def process_dead_letter(record):
    logs.add(messageId=record["messageId"], jobId=None)
    metrics.dead_lettered()
    job_id = _job_id(record)
    logs.add(jobId=job_id)
    if job_id is None:
        return
    finished = jobs.mark_error(job_id, DEAD_LETTER_ERROR)
    if finished is None:
        log.info("job %s: dead letter for a finished or unknown job acknowledged", job_id)
        return
    log.error("job %s: marked error after the queue's retries ran out", job_id)
    metrics.job_finished("error")
    notify.job_completed(jobs.event_payload(finished))


def resend_stale(limit=100) -> dict:
    """Give each stale job a new message; the worker's claim makes a
    duplicate harmless, so re-sending is always safe."""
    resent = []
    while len(resent) < limit:
        job = jobs.take_stale()
        if job is None:
            break
        queue.send_job(job["jobId"], 0)
        logs.add(jobId=job["jobId"])
        metrics.swept()
        log.warning("job %s: still %s with no message to finish it; message re-sent",
                    job["jobId"], job["status"])
        resent.append(job["jobId"])
    return {"resent": resent}


def _per_record(records, handle) -> dict:
    return _failures(records, [_outcome(record, handle) for record in records])


def _outcome(record, handle) -> bool:
    """Whether the record is done with (True) or must come back (False)."""
    try:
        handle(record)
        return True
    except _Later:
        return False
    except Exception:
        log.exception("message %s failed; SQS will deliver it again", record["messageId"])
        return False


def _failures(records, outcomes) -> dict:
    return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}
                                  for record, done in zip(records, outcomes) if not done]}


def _job_id(record):
    try:
        job_id = json.loads(record["body"])["jobId"]
    except (ValueError, KeyError, TypeError):
        job_id = None
    if not isinstance(job_id, str):
        log.error("message %s has no jobId; acknowledged", record["messageId"])
        return None
    return job_id
