"""At-least-once delivery (decision 3): duplicates, early messages and a
crashed worker end with one result, and the AI is not called again for a
finished job."""
import json
import signal
import time
import uuid
from datetime import timedelta

import pytest

from chalicelib import queue
from devstack.services import StackProcess
from tests.support.client import Client
from tests.support.jobs import submit, unique, wait_until_finished


def send(queue_name, job_id, delay=0):
    sqs = queue.client()
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"jobId": job_id}),
                     DelaySeconds=delay)


def test_the_same_message_delivered_twice_calls_the_ai_once(api, user, openrouter):
    prompt = unique("Delivered twice")
    queued = submit(api, user, prompt)
    send("generation-jobs", queued["jobId"], delay=2)
    job = wait_until_finished(api, user, queued["jobId"])
    time.sleep(1.5)
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1


def test_a_message_for_a_finished_job_is_acknowledged_without_an_ai_call(api, user,
                                                                          openrouter):
    prompt = unique("Finished already")
    queued = submit(api, user, prompt)
    before = wait_until_finished(api, user, queued["jobId"])
    send("generation-jobs", queued["jobId"])
    time.sleep(2)
    after = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
    assert after == before
    assert len(openrouter.calls_for(prompt)) == 1


def test_an_early_message_is_not_processed_before_scheduled_for(api, user, openrouter):
    prompt = unique("Early")
    queued = submit(api, user, prompt)
    send("generation-jobs", queued["jobId"], delay=0)
    time.sleep(1)
    assert api.get(f"/generate-content/{queued['jobId']}",
                   token=user["token"]).json()["status"] == "queued"
    job = wait_until_finished(api, user, queued["jobId"])
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1


@pytest.fixture
def crash_env(stack_env):
    return {**stack_env, "CLAIM_LEASE_SECONDS": "5", "OPENROUTER_TIMEOUT_SECONDS": "60",
            "STACK_PARAMETERS": "JobsQueueName=crash-jobs DeadLetterQueueName=crash-dlq "
                                "JobsVisibilityTimeout=6"}


def test_a_worker_that_dies_after_claiming_leaves_a_job_that_completes_once(
        api, user, openrouter, crash_env, tmp_path):
    first = StackProcess(crash_env, tmp_path / "first.log").start()
    first_api = Client(first.url)
    prompt = unique("[slow-once] Survives a crash")
    queued = submit(first_api, user, prompt)
    deadline = time.monotonic() + 15
    while not openrouter.calls_for(prompt) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first_api.get(f"/generate-content/{queued['jobId']}",
                         token=user["token"]).json()["status"] == "processing"
    first.stop(signal.SIGKILL)
    second = StackProcess(crash_env, tmp_path / "second.log").start()
    try:
        job = wait_until_finished(api, user, queued["jobId"], timeout=30)
    finally:
        second.stop()
    assert job["status"] == "completed"
    assert job["generatedContent"] == f"# Generated\n\nContent about: {prompt}"
    assert len(openrouter.calls_for(prompt)) == 2


@pytest.fixture
def sweeping_env(stack_env):
    return {**stack_env, "STALE_JOB_SECONDS": "1",
            "STACK_PARAMETERS": "JobsQueueName=sweep-jobs DeadLetterQueueName=sweep-dlq "
                                "SweepSchedule='rate(1 second)'"}


def test_a_job_whose_message_was_lost_is_sent_again_and_completes_once(
        user, openrouter, sweeping_env, tmp_path):
    from chalicelib import clock, db
    prompt = unique("Lost message")
    moment = clock.now()
    job_id = str(uuid.uuid4())
    # As if the API died between storing the job and sending its message.
    db.get().jobs.insert_one({
        "jobId": job_id, "userId": db.object_id(user["_id"]), "prompt": prompt,
        "contentType": "Blog Post Outline", "status": "queued",
        "scheduledFor": moment - timedelta(seconds=5), "createdAt": moment,
        "updatedAt": moment, "__v": 0})
    sweeping = StackProcess(sweeping_env, tmp_path / "stack.log").start()
    try:
        job = wait_until_finished(Client(sweeping.url), user, job_id)
    finally:
        sweeping.stop()
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1
