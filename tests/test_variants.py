"""Variants and redelivery, on the worker handler in this process: every
variant is paid once, even when the worker that began a job died after
paying for some of them."""
import json
import uuid
from datetime import timedelta

import pytest

from chalicelib import clock, db, queue
from devstack.stack import ensure_queues
from infra import topology
from tests.support import INPROCESS_QUEUES
from tests.support.fake_openrouter import COST
from tests.support.worker import deliver, find


@pytest.fixture
def jobs_queue(backing, openrouter):
    ensure_queues(topology.local(INPROCESS_QUEUES))
    return queue.jobs_url()


def insert_job(prompt, **fields):
    moment = clock.now()
    job = {"jobId": str(uuid.uuid4()), "userId": db.object_id("0123456789abcdef01234567"),
           "prompt": prompt, "contentType": "Blog Post Outline", "status": "queued",
           "options": {"variants": 3}, "scheduledFor": moment, "createdAt": moment,
           "updatedAt": moment, "__v": 0, **fields}
    db.get().jobs.insert_one(job)
    return job["jobId"]


def test_a_redelivered_job_pays_only_for_the_variants_it_had_not_kept(jobs_queue, openrouter):
    prompt = f"Resumed variants {uuid.uuid4()}"
    kept = {"text": "The first variant, paid before the crash",
            "usage": {"promptTokens": 10, "completionTokens": 5, "totalTokens": 15,
                      "cost": COST}, "model": "earlier/model"}
    # A worker claimed it, kept one paid variant, and died: its lease ran out.
    job_id = insert_job(prompt, status="processing", claimToken="dead-worker", attempts=1,
                        claimExpiresAt=clock.now() - timedelta(seconds=1),
                        variantResults=[kept])
    deliver(jobs_queue, json.dumps({"jobId": job_id}))
    job = find(job_id)
    assert len([call for call in openrouter.calls if prompt in call["prompt"]]) == 2
    assert job["status"] == "completed"
    assert job["variants"][0] == kept["text"] == job["generatedContent"]
    assert len(job["variants"]) == 3
    assert job["usage"]["cost"] == pytest.approx(3 * COST)


def test_a_job_of_three_variants_makes_three_calls_and_keeps_each(jobs_queue, openrouter):
    prompt = f"Kept as paid {uuid.uuid4()}"
    job_id = insert_job(prompt)
    deliver(jobs_queue, json.dumps({"jobId": job_id}))
    job = find(job_id)
    assert [variant["text"] for variant in job["variantResults"]] == job["variants"]
    assert len(openrouter.calls_for(json.dumps({"request": prompt}, indent=2))) == 3


def test_variants_whose_server_reports_no_usage_sum_their_estimates_still_marked(jobs_queue):
    job_id = insert_job(f"[no-usage] Local variants {uuid.uuid4()}")
    deliver(jobs_queue, json.dumps({"jobId": job_id}))
    job = find(job_id)
    estimates = [variant["usage"] for variant in job["variantResults"]]
    assert [usage["estimated"] for usage in estimates] == [True] * 3
    assert job["usage"]["estimated"] is True
    assert job["usage"]["totalTokens"] == sum(usage["totalTokens"] for usage in estimates)


def test_a_job_of_variants_cut_at_the_token_limit_says_so_for_each(jobs_queue):
    job_id = insert_job(f"[cut] Long variants {uuid.uuid4()}")
    deliver(jobs_queue, json.dumps({"jobId": job_id}))
    job = find(job_id)
    assert (job["status"], job["finishReason"]) == ("completed", "length")
    assert [variant["finishReason"] for variant in job["variantResults"]] == ["length"] * 3
