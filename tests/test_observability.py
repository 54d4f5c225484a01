"""Logs and metrics an on-call engineer can use: in Lambda, JSON lines that
carry the job, the user, the request id and the function, and CloudWatch
Embedded Metric Format lines per outcome; locally, readable text."""
import json
import os
import subprocess
import sys
import time

from chalicelib import metrics
from devstack.stack import ensure_queues
from infra import topology
from tests.support import JWT_SECRET, ROOT
from tests.support.fake_openrouter import API_KEY, COST

# A Lambda container: the API handler queues a job, then the worker
# handler receives its message; each prints what CloudWatch would receive.
INVOCATIONS = """
import json, sys
from app import app, process_jobs

class Context:
    def __init__(self, name, request_id):
        self.function_name, self.aws_request_id = name, request_id

    def get_remaining_time_in_millis(self):
        return 30000

token = sys.argv[1]
request = {"path": "/generate-content", "httpMethod": "POST", "isBase64Encoded": False,
           "headers": {"authorization": "Bearer " + token,
                       "content-type": "application/json"},
           "body": json.dumps({"prompt": "Observable job", "contentType": "Blog Post Outline"}),
           "multiValueQueryStringParameters": None, "pathParameters": None,
           "stageVariables": None,
           "requestContext": {"resourcePath": "/generate-content", "httpMethod": "POST",
                              "path": "/generate-content",
                              "identity": {"sourceIp": "192.0.2.10"}}}
response = app(request, Context("api-function", "api-request"))
job_id = json.loads(response["body"])["jobId"]
record = {"messageId": "message-1", "receiptHandle": "handle", "eventSource": "aws:sqs",
          "body": json.dumps({"jobId": job_id}), "attributes": {}, "messageAttributes": {},
          "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:observed-jobs"}
process_jobs({"Records": [record]}, Context("worker-function", "worker-request"))
print(json.dumps({"statusCode": response["statusCode"], "jobId": job_id}), flush=True)
"""


def run_in_lambda(user):
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "api-function",
           "GENERATION_DELAY_SECONDS": "0", "JOBS_QUEUE_NAME": "observed-jobs"}
    ensure_queues(topology.local({"JobsQueueName": "observed-jobs",
                                  "DeadLetterQueueName": "observed-jobs-dlq"}))
    done = subprocess.run([sys.executable, "-c", INVOCATIONS, user["token"]], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout, [json.loads(line) for line in done.stdout.splitlines()]


def emf(lines, name):
    return [line for line in lines if "_aws" in line and name in line]


def test_lambda_log_lines_are_json_with_job_user_request_and_function(backing, openrouter,
                                                                      api, user):
    _, lines = run_in_lambda(user)
    outcome = lines[-1]
    assert outcome["statusCode"] == 202
    queued = next(line for line in lines if line.get("message", "").startswith(
        f"job {outcome['jobId']} queued"))
    assert {key: queued[key] for key in ("level", "jobId", "userId", "function_name",
                                         "function_request_id", "service")} == {
        "level": "INFO", "jobId": outcome["jobId"], "userId": user["_id"],
        "function_name": "api-function", "function_request_id": "api-request",
        "service": "ai-content-generator"}
    completed = next(line for line in lines
                     if line.get("message") == f"job {outcome['jobId']}: completed")
    assert (completed["jobId"], completed["function_name"],
            completed["function_request_id"]) == (outcome["jobId"], "worker-function",
                                                  "worker-request")


def test_lambda_lines_never_carry_a_token_a_hash_or_a_key(backing, openrouter, api, user):
    output, _ = run_in_lambda(user)
    for secret in (user["token"], JWT_SECRET, API_KEY, "$2b$"):
        assert secret not in output


def test_job_outcomes_and_ai_calls_are_embedded_metrics_by_stage(backing, openrouter, api,
                                                                 user):
    _, lines = run_in_lambda(user)
    queued, = emf(lines, "JobsQueued")
    assert queued["_aws"]["CloudWatchMetrics"] == [{
        "Namespace": "AIContentGenerator", "Dimensions": [["stage"]],
        "Metrics": [{"Name": "JobsQueued", "Unit": "Count"}]}]
    assert (queued["stage"], queued["JobsQueued"]) == ("test", [1.0])
    completed, = emf(lines, "JobsCompleted")
    assert completed["JobsCompleted"] == [1.0]
    latency, = emf(lines, "AILatency")
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "AILatency", "Unit": "Milliseconds"}]
    assert 0 < latency["AILatency"][0] < 30000
    cost, = emf(lines, "AICost")
    assert cost["AICost"] == [COST]


def test_throttled_requests_are_counted_by_source(monkeypatch, capsys, backing):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "api-function")
    for source in ("limits", "openrouter"):
        metrics.throttled(source)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["source"], line["Throttled"]) for line in lines] == [
        ("limits", [1.0]), ("openrouter", [1.0])]
    assert lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["stage", "source"]]


def test_local_log_lines_are_text_naming_the_job_and_user(api, user, stack):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "Readable logs", "contentType": "Blog Post Outline"})
    job_id = response.json()["jobId"]
    expected = f"[jobId={job_id} userId={user['_id']}]"
    deadline = time.monotonic() + 10
    while expected not in stack.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(line for line in stack.log().splitlines() if expected in line)
    assert f"INFO chalicelib.jobs: job {job_id} queued for " in line
