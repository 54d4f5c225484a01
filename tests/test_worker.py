"""The worker handler as Lambda invokes it, in this process, on real MongoDB,
SQS and the fake OpenRouter: per-record results and the claim."""
import json
import uuid
from datetime import timedelta

import pytest
from chalice.local import LambdaContext

import app
from chalicelib import clock, db, lifecycle, queue
from devstack.aws.poller import _record
from devstack.stack import ensure_queues
from infra import topology
from tests.support import INPROCESS_QUEUES
from tests.support.worker import deliver, find


@pytest.fixture
def jobs_queue(backing, openrouter):
    ensure_queues(topology.local(INPROCESS_QUEUES))
    return queue.jobs_url()


def insert_job(user_id, prompt, due_in=0.0):
    moment = clock.now()
    job = {"jobId": str(uuid.uuid4()), "userId": user_id, "prompt": prompt,
           "contentType": "Social Media Caption", "status": "queued",
           "scheduledFor": moment + timedelta(seconds=due_in), "createdAt": moment,
           "updatedAt": moment, "__v": 0}
    db.get().jobs.insert_one(job)
    return job["jobId"]


def test_only_the_early_record_of_a_batch_is_reported_back(jobs_queue):
    user_id = db.object_id("0123456789abcdef01234567")
    due = insert_job(user_id, "Due now")
    early = insert_job(user_id, "Due later", due_in=30)
    early_body = json.dumps({"jobId": early})
    result, message_ids = deliver(jobs_queue, json.dumps({"jobId": due}), early_body,
                                  "not json")
    assert result == {"batchItemFailures": [{"itemIdentifier": message_ids[early_body]}]}
    assert find(due)["status"] == "completed"
    assert find(early)["status"] == "queued"


def test_a_message_for_a_live_claim_returns_until_the_lease_ends(jobs_queue):
    job_id = insert_job(db.object_id("0123456789abcdef01234567"), "Held elsewhere")
    holder = lifecycle.claim(job_id).job
    body = json.dumps({"jobId": job_id})
    result, message_ids = deliver(jobs_queue, body)
    assert result == {"batchItemFailures": [{"itemIdentifier": message_ids[body]}]}
    assert find(job_id)["claimToken"] == holder["claimToken"]


def test_a_dead_letter_for_a_live_claim_returns_and_leaves_the_job_to_its_holder(jobs_queue):
    job_id = insert_job(db.object_id("0123456789abcdef01234567"), "Dead letter, live claim")
    holder = lifecycle.claim(job_id).job
    body = json.dumps({"jobId": job_id})
    result, message_ids = deliver(queue.url(INPROCESS_QUEUES["DeadLetterQueueName"]), body,
                                  handler=app.process_dead_letters)
    assert result == {"batchItemFailures": [{"itemIdentifier": message_ids[body]}]}
    job = find(job_id)
    assert (job["status"], job["claimToken"]) == ("processing", holder["claimToken"])


def test_every_record_of_a_batch_shares_the_time_the_function_has(jobs_queue):
    user_id = db.object_id("0123456789abcdef01234567")
    ids = [insert_job(user_id, f"[one-second] batch {n} {uuid.uuid4()}") for n in range(5)]
    bodies = [json.dumps({"jobId": job_id}) for job_id in ids]
    sqs = queue.client()
    for body in bodies:
        sqs.send_message(QueueUrl=jobs_queue, MessageBody=body)
    messages = []
    while len(messages) < len(bodies):
        received = sqs.receive_message(QueueUrl=jobs_queue, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        messages += [message for message in received if message["Body"] in bodies]
    # Each AI call takes a second and the function has four left (two kept
    # in reserve): one after the other, the later jobs would time out.
    result = app.process_jobs({"Records": [_record(m, jobs_queue) for m in messages]},
                              LambdaContext("worker", 256, 4_000))
    assert result == {"batchItemFailures": []}
    assert [find(job_id)["status"] for job_id in ids] == ["completed"] * 5


def test_a_job_sent_twice_in_one_batch_is_generated_once(jobs_queue, openrouter):
    prompt = f"Sent twice {uuid.uuid4()}"
    job_id = insert_job(db.object_id("0123456789abcdef01234567"), prompt)
    body = json.dumps({"jobId": job_id})
    result, _ = deliver(jobs_queue, body, body)
    job = find(job_id)
    assert result == {"batchItemFailures": []}
    assert (job["status"], job["attempts"]) == ("completed", 1)
    assert len(openrouter.calls_for(prompt)) == 1
