"""The service's spend bounded (issue 21): jobs per address and for the whole
service per day, AI cost for the service per day and per user per month,
cost reserved at submit and settled when a job ends. The windows and the
settlement are tested in this process against the real MongoDB with a
chosen clock (each test on a day of its own, so the service's counters are
its own); the HTTP behaviour against stacks of their own."""
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from bson import ObjectId

from chalicelib import contract, settings, spend
from chalicelib.errors import ApiError
from devstack.services import StackProcess
from tests.support.addresses import request_from
from tests.support.client import Client
from tests.support.fake_openrouter import COST
from tests.support.jobs import unique, wait_until_finished

JOB = {"prompt": "A paid job", "contentType": "Blog Post Outline"}


def refusal(call):
    with pytest.raises(ApiError) as raised:
        call()
    error = raised.value
    assert error.status == 429
    return error.body, int(error.headers["Retry-After"])


def with_settings(monkeypatch, **values):
    config = settings.from_env({**os.environ, **values})
    monkeypatch.setattr(settings, "get", lambda: config)


@pytest.fixture
def day(backing):
    """10:00 UTC on a day no other test uses."""
    start = datetime(2040, 1, 1, 10, tzinfo=timezone.utc)
    return start + timedelta(days=random.randrange(100_000))


def an_address():
    return f"203.0.113.{random.randrange(256)}:{uuid.uuid4().hex[:6]}"


def midnight_after(moment):
    return (moment + timedelta(days=1)).replace(hour=0).isoformat()[:19] + ".000Z"


# In this process.

def test_the_service_takes_its_daily_jobs_then_refuses_until_midnight(monkeypatch, day):
    with_settings(monkeypatch, MAX_SERVICE_JOBS_PER_DAY="3")
    for _ in range(3):
        spend.reserve(ObjectId(), an_address(), day, 1, 0)
    body, retry_after = refusal(lambda: spend.reserve(ObjectId(), an_address(), day, 1, 0))
    assert body == {"message": "Service daily generation limit reached: the service takes no "
                               f"more jobs today (UTC); it resets at {midnight_after(day)}"}
    assert retry_after == 14 * 3600
    spend.reserve(ObjectId(), an_address(), day + timedelta(hours=14), 1, 0)


def test_an_address_takes_its_daily_jobs_whoever_submits_them(monkeypatch, day):
    with_settings(monkeypatch, MAX_JOBS_PER_ADDRESS_PER_DAY="2")
    address = an_address()
    spend.reserve(ObjectId(), address, day, 1, 0)
    spend.reserve(ObjectId(), address, day, 1, 0)
    body, retry_after = refusal(lambda: spend.reserve(ObjectId(), address, day, 1, 0))
    assert body == {"message": "Address daily generation limit reached: 2 jobs from this "
                               f"address today (UTC); it resets at {midnight_after(day)}"}
    assert retry_after == 14 * 3600
    spend.reserve(ObjectId(), an_address(), day, 1, 0)


def test_a_job_of_several_variants_takes_that_many_jobs(monkeypatch, day):
    with_settings(monkeypatch, MAX_JOBS_PER_ADDRESS_PER_DAY="4")
    address = an_address()
    spend.reserve(ObjectId(), address, day, 3, 0)
    refusal(lambda: spend.reserve(ObjectId(), address, day, 2, 0))
    spend.reserve(ObjectId(), address, day, 1, 0)


def test_a_refusal_gives_back_what_the_submit_took_before_it(monkeypatch, day):
    with_settings(monkeypatch, MAX_SERVICE_JOBS_PER_DAY="1")
    user, address = ObjectId(), an_address()
    spend.reserve(ObjectId(), an_address(), day, 1, 0)
    refusal(lambda: spend.reserve(user, address, day, 1, 0.5))
    limits = spend.usage(user, address, day)
    assert limits["addressJobsPerDay"]["used"] == 0
    assert limits["costPerMonth"]["used"] == 0


def test_a_users_reservations_stop_at_the_monthly_cost_cap(monkeypatch, day):
    with_settings(monkeypatch, MAX_COST_PER_USER_PER_MONTH="1")
    user = ObjectId()
    spend.reserve(user, an_address(), day, 1, 0.4)
    spend.reserve(user, an_address(), day, 1, 0.4)
    body, retry_after = refusal(lambda: spend.reserve(user, an_address(), day, 1, 0.4))
    next_month = (day.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0)
    assert body == {"message": "Monthly spending limit reached: 1 credits (US dollars) of AI "
                               "per user this month (UTC); it resets at "
                               f"{next_month.isoformat()[:19]}.000Z"}
    assert retry_after == (next_month - day).total_seconds()
    spend.reserve(ObjectId(), an_address(), day, 1, 0.4)


def test_the_service_reservations_stop_at_its_daily_cost_cap(monkeypatch, day):
    with_settings(monkeypatch, MAX_SERVICE_COST_PER_DAY="1")
    spend.reserve(ObjectId(), an_address(), day, 1, 0.6)
    body, _ = refusal(lambda: spend.reserve(ObjectId(), an_address(), day, 1, 0.6))
    assert body == {"message": "Service daily spending limit reached: the service's AI budget "
                               f"for today (UTC) is spent; it resets at {midnight_after(day)}"}


def test_settling_replaces_the_reservation_by_what_the_job_cost(monkeypatch, day):
    with_settings(monkeypatch, MAX_COST_PER_USER_PER_MONTH="1")
    user = ObjectId()
    record = spend.reserve(user, an_address(), day, 1, 0.8)
    refusal(lambda: spend.reserve(user, an_address(), day, 1, 0.8))
    spend.settle([{"userId": user, "spend": record, "status": "completed", "attempts": 1,
                   "usage": {"cost": 0.1}}])
    assert spend.usage(user, an_address(), day)["costPerMonth"]["used"] == 0.1
    spend.reserve(user, an_address(), day, 1, 0.8)


def test_a_job_cancelled_before_any_claim_gives_its_reservation_back(day):
    user = ObjectId()
    record = spend.reserve(user, an_address(), day, 1, 0.5)
    spend.settle([{"userId": user, "spend": record, "status": "failed",
                   "error": contract.CANCELLED}])
    assert spend.usage(user, an_address(), day)["costPerMonth"]["used"] == 0


def test_a_job_cancelled_while_worked_on_keeps_its_reservation(day):
    user = ObjectId()
    record = spend.reserve(user, an_address(), day, 1, 0.5)
    spend.settle([{"userId": user, "spend": record, "status": "failed", "attempts": 1,
                   "error": contract.CANCELLED}])
    assert spend.usage(user, an_address(), day)["costPerMonth"]["used"] == 0.5


def test_with_no_price_nothing_is_reserved_and_a_cap_reached_by_settled_costs_refuses(
        monkeypatch, day):
    with_settings(monkeypatch, MAX_COST_PER_USER_PER_MONTH="0.0002")
    user = ObjectId()
    assert spend.estimate(JOB, 1) == 0
    for _ in range(2):
        record = spend.reserve(user, an_address(), day, 1, 0)
        spend.settle([{"userId": user, "spend": record, "status": "completed", "attempts": 1,
                       "usage": {"cost": COST}}])
    refusal(lambda: spend.reserve(user, an_address(), day, 1, 0))


def test_the_estimate_is_the_prompt_and_the_longest_answer_at_the_price(monkeypatch):
    with_settings(monkeypatch, OPENROUTER_PRICE_PER_MILLION_TOKENS="2",
                  OPENROUTER_MAX_TOKENS="1000")
    assert spend.estimate({"prompt": "x" * 400}, 1) == pytest.approx(1100 * 2 / 1e6)
    assert spend.estimate({"prompt": "x" * 400}, 3) == pytest.approx(3 * 1100 * 2 / 1e6)


# Over HTTP, on stacks of their own.

def start_stack(stack_env, tmp_path_factory, name, **values):
    env = {**stack_env, "MONGODB_DB": f"spend-{name}",
           "STACK_PARAMETERS": f"JobsQueueName=spend-{name} DeadLetterQueueName=spend-{name}-dlq",
           **values}
    return StackProcess(env, tmp_path_factory.mktemp(name) / "stack.log").start()


@pytest.fixture(scope="module")
def address_stack(stack_env, tmp_path_factory):
    """Three jobs per address a day; no job comes due during a test."""
    running = start_stack(stack_env, tmp_path_factory, "address",
                          MAX_JOBS_PER_ADDRESS_PER_DAY="3", GENERATION_DELAY_SECONDS="60")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def service_stack(stack_env, tmp_path_factory):
    running = start_stack(stack_env, tmp_path_factory, "service",
                          MAX_SERVICE_JOBS_PER_DAY="4", GENERATION_DELAY_SECONDS="1")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def budget_stack(stack_env, tmp_path_factory):
    """A user may spend less than two of the fake's completions a month."""
    running = start_stack(stack_env, tmp_path_factory, "budget",
                          MAX_COST_PER_USER_PER_MONTH="0.0002", GENERATION_DELAY_SECONDS="0")
    yield running
    running.stop()


def submit_from(stack, source, user, body=None):
    return request_from(stack.port, source, "POST", "/generate-content", body or JOB,
                        token=user["token"])


def test_an_address_past_its_cap_is_refused_while_another_gets_through(address_stack):
    api = Client(address_stack.url)
    first, second = api.register(), api.register()
    assert [submit_from(address_stack, "127.0.0.21", user)[0]
            for user in (first, second, first)] == [202, 202, 202]
    status, body, retry_after = submit_from(address_stack, "127.0.0.21", second)
    assert status == 429
    assert body["message"].startswith("Address daily generation limit reached: 3 jobs from "
                                      "this address today (UTC); it resets at ")
    assert 1 <= int(retry_after) <= 86400
    assert submit_from(address_stack, "127.0.0.22", second)[0] == 202


def test_regenerate_and_rewrite_count_as_the_jobs_they_are(address_stack):
    api = Client(address_stack.url)
    user = api.register()
    status, queued, _ = submit_from(address_stack, "127.0.0.23", user)
    assert status == 202
    item = api.post("/content", token=user["token"], json={
        "title": "Draft", "type": "Product Description", "body": "A first draft."}).json()
    paid = [request_from(address_stack.port, "127.0.0.23", "POST",
                         f"/generate-content/{queued['jobId']}/regenerate", token=user["token"]),
            request_from(address_stack.port, "127.0.0.23", "POST",
                         f"/content/{item['_id']}/rewrite", {"instruction": "shorten"},
                         token=user["token"])]
    assert [status for status, _, _ in paid] == [202, 202]
    status, body, _ = request_from(address_stack.port, "127.0.0.23", "POST",
                                   f"/generate-content/{queued['jobId']}/regenerate",
                                   token=user["token"])
    assert status == 429
    assert body["message"].startswith("Address daily generation limit reached: ")


def test_usage_shows_each_limit_with_when_it_resets(address_stack):
    user = Client(address_stack.url).register()
    submit_from(address_stack, "127.0.0.24", user)
    status, body, _ = request_from(address_stack.port, "127.0.0.24", "GET", "/usage",
                                   token=user["token"])
    assert status == 200
    limits = body["limits"]
    tomorrow = limits["addressJobsPerDay"]["resetsAt"]
    assert tomorrow.endswith("T00:00:00.000Z")
    assert limits["addressJobsPerDay"] == {"used": 1, "max": 3, "resetsAt": tomorrow}
    assert limits["serviceJobsPerDay"] == {"reached": False, "resetsAt": tomorrow}
    assert limits["serviceCostPerDay"] == {"reached": False, "resetsAt": tomorrow}
    assert limits["costPerMonth"]["used"] == 0 and limits["costPerMonth"]["max"] == 2
    assert limits["costPerMonth"]["resetsAt"][8:] == "01T00:00:00.000Z"
    assert limits["activeJobs"]["used"] == limits["jobsPerDay"]["used"] == 1
    elsewhere = request_from(address_stack.port, "127.0.0.25", "GET", "/usage",
                             token=user["token"])[1]["limits"]
    assert elsewhere["addressJobsPerDay"]["used"] == 0


def test_jobs_past_the_service_cap_are_refused_and_never_reach_the_ai(service_stack,
                                                                      openrouter):
    api = Client(service_stack.url)
    prompt = unique("Service cap")
    users = [api.register() for _ in range(3)]
    answers = [submit_from(service_stack, f"127.0.0.{30 + n % 3}", users[n % 3],
                           {**JOB, "prompt": prompt}) for n in range(6)]
    assert [status for status, _, _ in answers] == [202] * 4 + [429] * 2
    for _, body, retry_after in answers[4:]:
        assert body["message"].startswith("Service daily generation limit reached: ")
        assert 1 <= int(retry_after) <= 86400
    for (_, queued, _), n in zip(answers[:4], range(4)):
        assert wait_until_finished(api, users[n % 3], queued["jobId"])["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 4


def test_a_users_reported_costs_stop_them_at_the_monthly_cap(budget_stack):
    api = Client(budget_stack.url)
    user = api.register()
    for _ in range(2):
        status, queued, _ = submit_from(budget_stack, "127.0.0.40", user)
        assert status == 202
        assert wait_until_finished(api, user, queued["jobId"])["usage"]["cost"] == COST
    status, body, retry_after = submit_from(budget_stack, "127.0.0.40", user)
    assert status == 429
    assert body["message"].startswith("Monthly spending limit reached: 0.0002 credits (US "
                                      "dollars) of AI per user this month (UTC); it resets at ")
    assert int(retry_after) >= 1
    assert submit_from(budget_stack, "127.0.0.40", api.register())[0] == 202
