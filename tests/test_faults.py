"""System faults (decision 5): no job is lost or left queued forever when
MongoDB or SQS goes away. These run a stack on services of their own, so
they can be stopped."""
import time

import boto3
import pytest

from devstack import services
from devstack.services import StackProcess
from tests.support.client import Client
from tests.support.jobs import submit, unique, wait_until_finished


@pytest.fixture
def faulty(stack_env, backing, logs, tmp_path):
    """A stack on its own MongoDB (on disk, so it survives a restart), SQS and Redis."""
    mongo = services.start_mongo(str(tmp_path / "mongo"), logs)
    sqs = services.start_sqs(logs)
    redis = services.start_redis(logs)
    env = {**stack_env, "MONGODB_URI": mongo.url, "SQS_ENDPOINT_URL": sqs.url,
           "REDIS_URL": redis.url,
           "GENERATION_DELAY_SECONDS": "1",
           "STACK_PARAMETERS": "JobsVisibilityTimeout=2 DeadLetterVisibilityTimeout=2 "
                               "MaxReceiveCount=2"}
    stack = StackProcess(env, tmp_path / "stack.log").start()
    state = {"api": Client(stack.url), "mongo": mongo, "sqs": sqs, "redis": redis,
             "storage": str(tmp_path / "mongo")}
    yield state
    stack.stop()
    for name in ("mongo", "sqs", "redis"):
        state[name].stop()


def messages_in(sqs_url, queue_name):
    client = boto3.client("sqs", endpoint_url=sqs_url, region_name="us-east-1")
    url = client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(int(attributes[name]) for name in (
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"))


def test_mongodb_down_while_processing_ends_in_the_dead_letter_queue_as_error(faulty, logs):
    api = faulty["api"]
    user = api.register()
    queued = api.post("/generate-content", token=user["token"],
                      json={"prompt": unique("Database outage"),
                            "contentType": "Blog Post Outline"}).json()
    faulty["mongo"].stop()
    deadline = time.monotonic() + 60
    # Until the only message left is the dead letter, and every worker that
    # received the job's message has given up on the database: one still
    # waiting would claim the job when MongoDB is back, and complete it.
    while (messages_in(faulty["sqs"].url, "generation-jobs-dlq") == 0
           or messages_in(faulty["sqs"].url, "generation-jobs") > 0):
        assert time.monotonic() < deadline, "the message never reached the dead-letter queue"
        time.sleep(0.5)
    time.sleep(6)
    faulty["mongo"] = services.start_mongo(faulty["storage"], logs, port=faulty["mongo"].port)
    deadline = time.monotonic() + 60
    while True:
        job = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
        if job.get("status") == "error" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["status"] == "error"
    assert job["error"] == "The job could not be processed because of a system error"


def test_redis_down_at_completion_still_completes_the_job_once(faulty, openrouter):
    api = faulty["api"]
    user = api.register()
    faulty["redis"].stop()
    prompt = unique("Redis outage")
    queued = submit(api, user, prompt)
    job = wait_until_finished(api, user, queued["jobId"])
    time.sleep(1)
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1


def test_sqs_down_at_submit_is_500_and_the_job_is_marked_error(faulty):
    api = faulty["api"]
    user = api.register()
    faulty["sqs"].stop()
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "Queue outage", "contentType": "Blog Post Outline"})
    assert response.status_code == 500
    assert response.json() == {"message": "Server error"}
    jobs = api.get("/generate-content", token=user["token"]).json()
    assert [(job["prompt"], job["status"]) for job in jobs] == [("Queue outage", "error")]
    assert jobs[0]["error"] == "The job could not be queued; please try again"
