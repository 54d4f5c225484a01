"""The queue consumers: adapters from SQS records to the job lifecycle. Each
record is handled on its own and reported back on its own
(`batchItemFailures`), so a bad record never makes SQS deliver the good ones
again."""
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from chalicelib import contract, lifecycle, logs, metrics, notify, openrouter, options, queue

log = logging.getLogger(__name__)

DONE = 0.0
# How often a streaming worker looks whether its job was cancelled: one
# small read a second, not one per chunk.
HOLD_CHECK_SECONDS = 1.0


class _Stopped(Exception):
    """The job is no longer this claim's: cancelled, or claimed again."""


def process_batch(records, context, handle) -> dict:
    """Run `handle(record, deadline)` for every record side by side (each
    waits mostly on the AI or the network: one after the other, a batch of
    ten 30 s calls would outlast the function's timeout). A handler returns
    DONE, or the seconds after which its record should come back; a record
    whose handler raised comes back after the visibility timeout, and counts
    towards the queue's redrive limit."""
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        outcomes = list(pool.map(lambda record: _settle(record, handle, context, deadline),
                                 records))
    return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}
                                  for record, done in zip(records, outcomes) if not done]}


def generate_batch(records, context) -> dict:
    """The jobs queue's batch: every record's job claimed at once (two
    database round trips for the batch, not two per job), then each record
    handled side by side with its own claim, then the jobs it finished
    settled and their users' finished jobs trimmed, once for the batch."""
    claims = lifecycle.claim_many([_parse_job_id(record) for record in records])
    by_record = {id(record): claim for record, claim in zip(records, claims)}
    ended = []
    try:
        return process_batch(records, context, lambda record, deadline: generate(
            record, deadline, by_record[id(record)], ended.append))
    finally:
        lifecycle.settle(ended)


def generate(record, deadline, claim, ended) -> float:
    """A job's message, its job claimed by its batch (`claim`): stream the
    AI's answer to the owner, write the result, and hand the job that result
    ended to `ended`."""
    job_id = _job_id(record)
    logs.add(jobId=job_id)
    if job_id is None:
        return DONE
    if not claim.taken:
        return _not_taken(job_id, claim)
    job = claim.job
    log.info("job %s: claimed (attempt %d)", job_id, job["attempts"])
    watch = _Watch(job)
    try:
        job, failure = _variants(job, deadline, watch)
    except _Stopped:
        log.info("job %s: no longer ours (cancelled or deleted); AI call stopped", job_id)
        return DONE
    kept = job.get("variantResults", [])
    if not kept:
        result = lifecycle.fail(job, str(failure), deadline)
    else:
        watch.progress.finish()
        result = lifecycle.complete(job, kept[0]["text"], deadline, **_result(job, failure))
    if result.taken:
        ended(result.job)
    _announce(job_id, result)
    return DONE


def _variants(job, deadline, watch):
    """(the job with each variant it asks for kept, the failure that stopped
    them or None). Each is a paid call, made one after another within this
    claim; all but the last are kept on the job as soon as they are paid, so
    a crash costs at most the one call in flight, as for any job. A job of
    one variant writes only its result, as before variants existed."""
    wanted = options.variants(job)
    while len(job.get("variantResults", [])) < wanted:
        try:
            generation = openrouter.stream(job["prompt"], job["contentType"], deadline,
                                           on_text=watch.on_text, brief=job,
                                           before_call=watch.check_due)
        except openrouter.GenerationFailed as failure:
            return job, failure
        text, notice = options.fit(generation.text, job)
        variant = {"text": text, **generation.spend(), **({"notice": notice} if notice else {})}
        if len(job.get("variantResults", [])) + 1 == wanted:
            job = {**job, "variantResults": [*job.get("variantResults", []), variant]}
        else:
            kept = lifecycle.keep_variant(job, variant)
            if not kept.taken:
                raise _Stopped()
            job = kept.job
    return job, None


def _result(job, failure) -> dict:
    """What the job keeps besides its first text: every variant (when asked
    for), their summed usage, the model, and notices."""
    kept = job["variantResults"]
    result = _summed_usage(kept)
    if "variants" in (job.get("options") or {}):
        result.update(variants=[variant["text"] for variant in kept], variantResults=kept)
    if kept[0].get("finishReason"):
        # generatedContent's: each variant keeps its own in variantResults.
        result["finishReason"] = kept[0]["finishReason"]
    models = [variant["model"] for variant in kept if variant.get("model")]
    if models:
        result["model"] = models[0]
    notices = sorted({variant["notice"] for variant in kept if variant.get("notice")})
    if failure is not None:
        notices.append(contract.variants_missing(len(kept), options.variants(job), str(failure)))
    if notices:
        result["notice"] = "; ".join(notices)
    return result


def _summed_usage(kept) -> dict:
    usages = [variant["usage"] for variant in kept if variant.get("usage")]
    if not usages:
        return {}
    names = dict.fromkeys(name for usage in usages for name in usage if name != "estimated")
    total = {name: sum(usage.get(name, 0) for usage in usages) for name in names}
    if "cost" in total:
        total["cost"] = round(total["cost"], 8)
    if any(usage.get("estimated") for usage in usages):
        total["estimated"] = True
    return {"usage": total}


class _Watch:
    """The AI call's callbacks: before every paid attempt and during a
    stream, once HOLD_CHECK_SECONDS have passed since the claim or the last
    check, it stops the call when the job is no longer this claim's
    (cancelled, or its account deleted), so such a job costs no further
    tokens, not even a retry's; it relays the text as job_progress. The
    first attempt, moments after the claim, costs no read of its own."""

    def __init__(self, job):
        self.job = job
        self.progress = notify.Progress(job["jobId"], job["userId"])
        self.checked_at = time.monotonic()

    def on_text(self, text):
        self.progress.update(text)
        self.check_due()

    def check_due(self):
        if time.monotonic() - self.checked_at >= HOLD_CHECK_SECONDS:
            self.checked_at = time.monotonic()
            if not lifecycle.holds(self.job):
                raise _Stopped()


def give_up(record, deadline) -> float:
    """A dead letter: the job's message outlived the queue's retries."""
    metrics.dead_lettered()
    job_id = _job_id(record)
    logs.add(jobId=job_id)
    if job_id is None:
        return DONE
    result = lifecycle.mark_error(job_id, contract.DEAD_LETTERED)
    if not result.taken:
        return _not_taken(job_id, result)
    log.error("job %s: marked error after the queue's retries ran out", job_id)
    _announce(job_id, result)
    return DONE


def resend_stale(limit=100) -> dict:
    """Give each stale job a new message; the claim makes a duplicate
    harmless, so re-sending is always safe."""
    resent = []
    while len(resent) < limit:
        job = lifecycle.take_stale()
        if job is None:
            break
        logs.add(jobId=job["jobId"])
        queue.send_job(job["jobId"], 0)
        metrics.swept()
        log.warning("job %s: still %s with no message to finish it; message re-sent",
                    job["jobId"], job["status"])
        resent.append(job["jobId"])
    return {"resent": resent}


def _not_taken(job_id, outcome) -> float:
    """A job someone else has, or had: an early or held job's record comes
    back when that may have changed (if a live claim's holder dies, this
    record is the one that gets the job finished); any other is done."""
    if outcome.reason in ("early", "held"):
        log.info("job %s: %s; the message returns in %.1fs", job_id, outcome.reason,
                 outcome.retry_in)
        return outcome.retry_in
    log.info("job %s: %s; message acknowledged", job_id, outcome.reason)
    if outcome.reason == "finished":
        owed = lifecycle.take_announcement(job_id)
        if owed.taken:
            notify.job_completed(contract.job_completed(owed.job))
    return DONE


def _announce(job_id, result):
    if not result.taken:
        log.warning("job %s: claim lost before the result was written", job_id)
        return
    log.info("job %s: %s", job_id, result.job["status"])
    metrics.job_finished(result.job["status"])
    notify.job_completed(contract.job_completed(result.job))


def _settle(record, handle, context, deadline) -> bool:
    """Whether the record is done with (True) or must come back (False)."""
    logs.bind(context, messageId=record["messageId"])
    try:
        retry_in = handle(record, deadline)
    except Exception:
        log.exception("message %s failed; SQS will deliver it again", record["messageId"])
        return False
    if retry_in == DONE:
        return True
    try:
        queue.postpone(record, retry_in)
    except Exception as error:
        # The message may have moved on meanwhile (to the dead-letter queue).
        log.warning("message %s could not be postponed (%s); it returns after its "
                    "visibility timeout", record["messageId"], type(error).__name__)
    return False


def _job_id(record):
    job_id = _parse_job_id(record)
    if job_id is None:
        log.error("message %s has no jobId; acknowledged", record["messageId"])
    return job_id


def _parse_job_id(record):
    try:
        job_id = json.loads(record["body"])["jobId"]
    except (ValueError, KeyError, TypeError):
        return None
    return job_id if isinstance(job_id, str) else None
