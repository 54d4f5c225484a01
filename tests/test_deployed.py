"""The packaged `dev` template, run as AWS runs it (devstack/aws/harness.py): the
functions' bundle with exactly the environment the template gives them,
API Gateway's answers from the template, the event sources and schedule it
describes, and the notifier with its task definition's environment; over
real MongoDB, Redis (with an AUTH token) and SQS servers."""
import json
import re
import time
import uuid
from datetime import timedelta

import pymongo
import pytest
import redis
import socketio
import yaml
from bson import ObjectId

from chalicelib import clock
from devstack import services
from devstack.aws.harness import Deployment
from tests.support import DEPLOYED_ORIGIN
from tests.support.client import Client
from tests.support.fake_openrouter import API_KEY
from tests.support.jobs import unique
from tests.support.listener import Listener

JWT_SECRET = "the-deployed-stage-secret-which-differs-from-the-tests"
REDIS_AUTH_TOKEN = "the-elasticache-auth-token"
WORKER_TIMEOUT_SECONDS = 4


@pytest.fixture(scope="module")
def deployed(packaged, backing, openrouter, logs, tmp_path_factory):
    work = tmp_path_factory.mktemp("deployed")
    mongo = services.start_mongo(str(work / "mongo"), logs)
    cache = services.start_redis(logs)
    # ElastiCache's AUTH: without the token, neither worker nor notifier gets in.
    redis.Redis(port=cache.port).config_set("requirepass", REDIS_AUTH_TOKEN)
    deployment = Deployment(
        packaged["dev"], work,
        parameters={"JobsQueueName": "deployed-jobs", "DeadLetterQueueName": "deployed-dlq",
                    "GenerationDelaySeconds": "1", "JobsVisibilityTimeout": "6",
                    "DeadLetterVisibilityTimeout": "3", "MaxReceiveCount": "2",
                    "WorkerMaxConcurrency": "2", "SweepSchedule": "rate(2 seconds)",
                    "OpenRouterBaseUrl": openrouter.url, "MailIdentity": "example.test",
                    "MailFrom": "no-reply@example.test"},
        secrets={"JWT_SECRET": JWT_SECRET, "MONGODB_URI": mongo.url,
                 "OPENROUTER_API_KEY": API_KEY, "REDIS_AUTH_TOKEN": REDIS_AUTH_TOKEN},
        redis_port=cache.port, timeouts={"Worker": WORKER_TIMEOUT_SECONDS})
    try:
        deployment.start()
    except Exception:
        mongo.stop()
        cache.stop()
        raise
    state = {"deployment": deployment, "api": Client(deployment.url), "mongo": mongo,
             "storage": str(work / "mongo"), "decisions_checked": 0}
    yield state
    deployment.stop()
    state["mongo"].stop()
    cache.stop()


@pytest.fixture(autouse=True)
def no_call_is_refused(deployed):
    """A call a role's policy lacks is an AccessDenied the code may log and
    swallow (a postponement, a mail, a log line) as it would in AWS; here
    the test during which it was made fails. Each decision is checked once,
    after the test it was logged in: the first test answers for the
    deployment's start too, and a background call (a poll, the schedule)
    for the test it ran beside."""
    yield
    decisions = deployed["deployment"].account.decisions()
    checked, deployed["decisions_checked"] = deployed["decisions_checked"], len(decisions)
    refused = [f"{decision['principal']} was refused {decision['action']} on "
               f"{decision['resource']}" for decision in decisions[checked:]
               if not decision["allowed"]]
    assert not refused, "\n".join(refused)


LAMBDA_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT", "TZ",
                    "AWS_ENDPOINT_URL", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"}


@pytest.mark.parametrize("name", ["APIHandler", "Worker", "DeadLetters", "Sweeper"])
def test_each_function_runs_with_its_template_environment_and_lambdas_only(
        deployed, packaged, name):
    template = yaml.safe_load(packaged["dev"].read_text())
    declared = set(template["Resources"][name]["Properties"]["Environment"]["Variables"])
    assert set(deployed["deployment"].functions[name].environment) == declared | LAMBDA_VARIABLES


def wait_for_status(api, user, job_id, wanted, timeout=40):
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/generate-content/{job_id}", token=user["token"]).json()
        if job["status"] in wanted or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def test_a_frontend_on_its_own_origin_generates_and_saves(deployed, openrouter):
    api = deployed["api"]
    origin = {"Origin": DEPLOYED_ORIGIN}
    user = api.register()
    listener = Listener(deployed["deployment"].notifier_url, user["token"]).connect()
    try:
        prompt = unique("Deployed shape")
        queued = api.post("/generate-content", token=user["token"], headers=origin,
                          json={"prompt": prompt, "contentType": "Blog Post Outline"})
        assert queued.status_code == 202
        assert (queued.json()["status"], queued.json()["delaySeconds"]) == ("queued", 1)
        event = listener.event_for(queued.json()["jobId"], timeout=30)
    finally:
        listener.close()
    assert event["status"] == "completed"
    assert event["generatedContent"] == f"# Generated\n\nContent about: {prompt}"
    status = api.get(f"/generate-content/{event['jobId']}", token=user["token"], headers=origin)
    saved = api.post(f"/generate-content/{event['jobId']}/save", token=user["token"],
                     headers=origin, json={"title": "Deployed"})
    assert (status.status_code, saved.status_code) == (200, 201)
    assert saved.json()["content"]["body"] == event["generatedContent"]
    for response in (queued, status, saved):
        assert response.headers["Access-Control-Allow-Origin"] == DEPLOYED_ORIGIN
    assert len(openrouter.calls_for(prompt)) == 1


def test_a_cancel_is_announced_once_by_a_worker_as_the_api_cannot_reach_redis(deployed):
    api = deployed["api"]
    user = api.register()
    listener = Listener(deployed["deployment"].notifier_url, user["token"]).connect()
    try:
        queued = api.post("/generate-content", token=user["token"], json={
            "prompt": unique("[slow] Cancelled in AWS"), "contentType": "Blog Post Outline"})
        job_id = queued.json()["jobId"]
        cancelled = api.post(f"/generate-content/{job_id}/cancel", token=user["token"])
        event = listener.event_for(job_id, timeout=30)
        time.sleep(3)
        later = []
        while not listener.events.empty():
            later.append(listener.events.get_nowait()["jobId"])
    finally:
        listener.close()
    assert cancelled.status_code == 200
    assert (event["status"], event["error"]) == ("failed", "Cancelled by the user")
    assert job_id not in later


@pytest.mark.parametrize("origin, accepted", [(DEPLOYED_ORIGIN, True),
                                               ("http://localhost:3000", False)])
def test_the_notifier_accepts_sockets_from_the_stage_origin_only(deployed, origin, accepted):
    user = deployed["api"].register()
    client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
    try:
        client.connect(deployed["deployment"].notifier_url, auth={"token": user["token"]},
                       transports=["websocket"], wait_timeout=5)
        connected = client.connected
    except socketio.exceptions.ConnectionError:
        connected = False
    finally:
        client.disconnect()
    assert connected is accepted


def test_the_preflight_is_the_gateways_and_names_the_stage_origin(deployed):
    response = deployed["api"].request("OPTIONS", "/content", headers={
        "Origin": DEPLOYED_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DEPLOYED_ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_an_error_from_the_function_names_the_stage_origin(deployed):
    response = deployed["api"].get("/auth/me", headers={"Origin": DEPLOYED_ORIGIN})
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}
    assert response.headers["Access-Control-Allow-Origin"] == DEPLOYED_ORIGIN


def test_an_unknown_route_is_the_gateways_404(deployed):
    response = deployed["api"].get("/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found"}
    assert response.headers["Access-Control-Allow-Origin"] == DEPLOYED_ORIGIN


def test_a_method_a_route_lacks_is_the_apps_405(deployed):
    response = deployed["api"].request("PATCH", "/content", json={})
    assert response.status_code == 405
    assert response.json() == {"message": "Method not allowed"}
    assert response.headers["Access-Control-Allow-Origin"] == DEPLOYED_ORIGIN


def test_the_sweeper_on_its_schedule_resends_a_stranded_job(deployed, openrouter):
    api = deployed["api"]
    user = api.register()
    prompt = unique("Stranded in the deployed shape")
    # As if the API died between storing the job and sending its message.
    job_id = _stored_job(deployed, user, prompt, "queued", -timedelta(hours=1))
    job = wait_for_status(api, user, job_id, {"completed", "failed"})
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1


def test_a_worker_past_its_timeout_is_stopped_and_its_job_ends_in_the_dead_letter_queue(
        deployed, logs):
    api = deployed["api"]
    user = api.register()
    listener = Listener(deployed["deployment"].notifier_url, user["token"]).connect()
    worker = deployed["deployment"].functions["Worker"]
    timed_out = worker.timed_out
    try:
        queued = api.post("/generate-content", token=user["token"],
                          json={"prompt": unique("Outage"),
                                "contentType": "Blog Post Outline"}).json()
        # MongoDB unreachable: each delivery waits on server selection past
        # the worker's timeout, until the queue's receives run out.
        deployed["mongo"].stop()
        deadline = time.monotonic() + 60
        while _dead_letters(deployed) == 0:
            assert time.monotonic() < deadline, "the message never reached the dead-letter queue"
            time.sleep(0.5)
        deployed["mongo"] = services.start_mongo(deployed["storage"], logs,
                                                 port=deployed["mongo"].port)
        event = listener.event_for(queued["jobId"], timeout=40)
    finally:
        listener.close()
    assert worker.timed_out - timed_out >= 2
    assert (event["status"], event["error"]) == (
        "failed", "The job could not be processed because of a system error")
    job = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
    assert job["status"] == "error"


def test_a_message_before_its_job_is_due_is_put_back_until_then(deployed, openrouter):
    api = deployed["api"]
    user = api.register()
    prompt = unique("Early in the deployed shape")
    job_id = _stored_job(deployed, user, prompt, "queued", timedelta(seconds=2))
    # As a duplicate send would: the message arrives before its job is due.
    _send(deployed, "deployed-jobs", job_id)
    job = wait_for_status(api, user, job_id, {"completed", "failed"})
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1


def test_a_dead_letter_whose_job_is_held_is_put_back_until_the_claim_runs_out(deployed):
    api = deployed["api"]
    user = api.register()
    job_id = _stored_job(deployed, user, unique("Held in the deployed shape"), "processing",
                         timedelta(0), claimExpiresAt=clock.now() + timedelta(seconds=2),
                         claimToken="a-worker-that-died")
    _send(deployed, "deployed-dlq", job_id)
    job = wait_for_status(api, user, job_id, {"error"})
    assert (job["status"], job["error"]) == (
        "error", "The job could not be processed because of a system error")


def test_a_reset_link_is_mailed_through_ses_from_the_stages_address(deployed):
    api = deployed["api"]
    user = api.register()
    forgot = api.post("/auth/forgot-password", json={"email": user["email"]})
    mail = [message for message in deployed["deployment"].account.sent_mail()
            if message["destinations"]["ToAddresses"] == [user["email"]]]
    token = re.search(r"#reset=([\w-]+)", mail[0]["body"]).group(1)
    reset = api.post("/auth/reset-password",
                     json={"token": token, "password": "reset-password-789"})
    assert forgot.status_code == 202
    assert (len(mail), mail[0]["source"]) == (1, "no-reply@example.test")
    assert reset.status_code == 200


@pytest.mark.parametrize("name", ["APIHandler", "Worker", "DeadLetters", "Sweeper"])
def test_each_functions_output_reaches_its_log_group(deployed, name):
    deployment = deployed["deployment"]
    function = deployment.functions[name]
    events = deployment.account.client("logs").filter_log_events(
        logGroupName=function.log_group)["events"]
    assert events


def _stored_job(deployed, user, prompt, status, due_in, **fields):
    job_id = str(uuid.uuid4())
    moment = clock.now()
    _jobs(deployed).insert_one({
        "jobId": job_id, "userId": ObjectId(user["_id"]), "prompt": prompt,
        "contentType": "Social Media Caption", "status": status,
        "scheduledFor": moment + due_in, "createdAt": moment, "updatedAt": moment,
        "__v": 0, **fields})
    return job_id


def _send(deployed, queue_name, job_id):
    sqs = deployed["deployment"].account.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
                     MessageBody=json.dumps({"jobId": job_id}))


def _jobs(deployed):
    return pymongo.MongoClient(deployed["mongo"].url, tz_aware=True).ai_content.jobs


def _dead_letters(deployed):
    client = deployed["deployment"].account.client("sqs")
    url = client.get_queue_url(QueueName="deployed-dlq")["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"])
            + int(attributes["ApproximateNumberOfMessagesNotVisible"]))
