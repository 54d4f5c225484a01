"""Fuzzing: Schemathesis generates valid and invalid requests for every
operation of /openapi.json and sends them to a stack of its own; every
response must conform to the document. Seeded and bounded, so a run is
repeatable and fits in make test."""
import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_schema_conformance,
                                               status_code_conformance)

from chalicelib import openapi
from devstack.services import StackProcess
from tests.support.client import Client
from tests.support.jobs import wait_until_finished

EXAMPLES_PER_OPERATION = 60


@schemathesis.check
def negative_data_refused(ctx, response, case):
    """negative_data_rejection, with 413 among the refusals: a body over
    256 KiB (100,000 characters of two-byte text) is refused before any
    route reads it."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_refused]
BOUNDED = settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))
ITEM = {"title": "Fuzzed", "type": "Blog Post Outline", "body": "An item to fuzz."}
operations = set()
requests_sent = 0

# The document the stack serves is this one (tests/test_openapi.py); loading
# it here lets pytest name a test per operation at collection time.
schema = schemathesis.openapi.from_dict(openapi.document())
# Unknown query parameters and body fields are ignored by design (only the
# named fields are read), so sending them is not invalid data.
schema.config.generation.update(allow_extra_parameters=False)


@pytest.fixture(scope="module")
def fuzzed_stack(stack_env, tmp_path_factory):
    """A stack of its own, so thousands of generated users, items and jobs
    never meet the other tests' data."""
    # The fuzzer's one user submits far more jobs than a person may.
    env = {**stack_env, "MAX_ACTIVE_JOBS_PER_USER": "1000", "MAX_JOBS_PER_DAY": "100000",
           # Each fuzzed logout logs in first (call_and_validate).
           "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "100000"}
    running = StackProcess(env, tmp_path_factory.mktemp("fuzz") / "stack.log").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(fuzzed_stack):
    return Client(fuzzed_stack.url)


@pytest.fixture(scope="module")
def fuzzer(client):
    return client.register(name="Fuzzer")


@pytest.fixture(scope="module")
def leaver(client):
    return client.register(name="Leaver")


@pytest.fixture(scope="module")
def completed_job(client, fuzzer):
    queued = client.post("/generate-content", token=fuzzer["token"],
                         json={"prompt": "A job to fuzz", "contentType": "Blog Post Outline"})
    wait_until_finished(client, fuzzer, queued.json()["jobId"])
    return queued.json()["jobId"]


@pytest.fixture(scope="module", autouse=True)
def report(request):
    failed_before = request.session.testsfailed
    yield
    failures = request.session.testsfailed - failed_before
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nschemathesis: {len(operations)} operations, {requests_sent} requests, "
              f"{failures} failures")


def call_and_validate(case, fuzzed_stack, fuzzer, leaver):
    global requests_sent
    operations.add(case.operation.label)
    requests_sent += 1
    token = fuzzer["token"]
    if case.operation.label == "POST /auth/logout":
        # A logout ends the session it presents (or every one of its user's):
        # a fresh session of another user, so the fuzzer's own goes on.
        token = Client(fuzzed_stack.url).post("/auth/login", json={
            "email": leaver["email"], "password": leaver["password"]}).json()["token"]
    case.call_and_validate(base_url=fuzzed_stack.url, checks=CHECKS,
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)


@schema.parametrize()
@seed(14)
@BOUNDED
def test_every_response_conforms_to_the_document(case, fuzzed_stack, fuzzer, leaver):
    call_and_validate(case, fuzzed_stack, fuzzer, leaver)


@schema.include(path_regex=r"\{").parametrize()
@seed(14)
@BOUNDED
def test_every_response_about_own_items_and_jobs_conforms(case, fuzzed_stack, fuzzer, leaver,
                                                          client, completed_job):
    """Generated ids name nothing, so the same requests again with ids of the
    fuzzer's own: a fresh item each time, and a completed job. Only then
    does an invalid body meet the code that must refuse it."""
    if "id" in case.path_parameters:
        item = client.post("/content", token=fuzzer["token"], json=ITEM).json()
        case.path_parameters = {**case.path_parameters, "id": item["_id"]}
    else:
        case.path_parameters = {**case.path_parameters, "jobId": completed_job}
    call_and_validate(case, fuzzed_stack, fuzzer, leaver)
