"""The limits that protect the money (issue 11): generation quotas per user,
login lockout per email, request caps per address, GET /usage. The windows
are tested in this process against the real MongoDB with a chosen clock;
the HTTP behaviour against stacks."""
import json
import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from bson import ObjectId

from chalicelib import db, limits, lockout, settings, worker
from chalicelib.errors import ApiError
from devstack.services import StackProcess
from tests.support.addresses import post_from
from tests.support.client import Client
from tests.support.jobs import submit, unique, wait_until_finished

ACTIVE_LIMIT = ("Active generation limit reached: 5 jobs queued or processing; "
                "a slot frees when one of them finishes")
T0 = datetime(2026, 3, 1, 12, 0, 10, tzinfo=timezone.utc)
ADDRESS = "198.51.100.1"
QUOTA_FIELDS = ("activeJobs", "maxActiveJobs", "jobsLast24h", "maxJobsPerDay", "nextSlotAt")


def refusal(call):
    with pytest.raises(ApiError) as raised:
        call()
    error = raised.value
    assert error.status == 429
    return error.body, int(error.headers["Retry-After"])


def with_settings(monkeypatch, **values):
    config = settings.from_env({**os.environ, **values})
    monkeypatch.setattr(settings, "get", lambda: config)


def take(user_id, at, status=None):
    """Take a slot at `at`; with a status, store the job as a submit would."""
    job_id = str(uuid.uuid4())
    limits.take_generation_slot(user_id, job_id, at)
    if status:
        db.get().jobs.insert_one({"jobId": job_id, "userId": user_id, "status": status,
                                  "scheduledFor": at + timedelta(seconds=60)})
    return job_id


@pytest.fixture
def user_id(backing):
    return ObjectId()


# Generation quotas, in this process.

def test_the_sixth_active_job_is_refused_with_429_and_retry_after(user_id):
    for _ in range(5):
        take(user_id, T0, "queued")
    body, retry_after = refusal(lambda: take(user_id, T0))
    assert body == {"message": ACTIVE_LIMIT}
    assert retry_after == 90


def test_a_job_that_ends_frees_its_slot_at_once(user_id):
    first = take(user_id, T0, "queued")
    for _ in range(4):
        take(user_id, T0, "processing")
    db.get().jobs.update_one({"jobId": first}, {"$set": {"status": "failed"}})
    take(user_id, T0)
    refusal(lambda: take(user_id, T0))


def test_a_slot_whose_job_was_never_stored_frees_after_a_minute(user_id):
    for _ in range(5):
        take(user_id, T0)
    refusal(lambda: take(user_id, T0 + timedelta(seconds=30)))
    take(user_id, T0 + timedelta(seconds=61), "queued")


def test_the_daily_limit_is_a_rolling_24_hours(user_id, monkeypatch):
    with_settings(monkeypatch, MAX_JOBS_PER_DAY="3")
    take(user_id, T0, "completed")
    take(user_id, T0 + timedelta(hours=12), "completed")
    take(user_id, T0 + timedelta(hours=13), "completed")
    body, retry_after = refusal(lambda: take(user_id, T0 + timedelta(hours=23)))
    assert body == {"message": "Daily generation limit reached: 3 jobs in 24 hours; "
                               "the next slot frees at 2026-03-02T12:00:10.000Z"}
    assert retry_after == 3600
    take(user_id, T0 + timedelta(hours=24, seconds=1), "completed")
    refusal(lambda: take(user_id, T0 + timedelta(hours=25)))


def test_usage_counts_active_jobs_and_the_last_24_hours(user_id, monkeypatch):
    with_settings(monkeypatch, MAX_JOBS_PER_DAY="3")
    take(user_id, T0, "completed")
    take(user_id, T0 + timedelta(hours=1), "queued")
    usage = limits.usage(user_id, ADDRESS, T0 + timedelta(hours=2))
    assert {name: usage[name] for name in QUOTA_FIELDS} == {
        "activeJobs": 1, "maxActiveJobs": 5, "jobsLast24h": 2, "maxJobsPerDay": 3,
        "nextSlotAt": None}
    take(user_id, T0 + timedelta(hours=2), "queued")
    assert limits.usage(user_id, ADDRESS, T0 + timedelta(hours=3))["nextSlotAt"] == \
        "2026-03-02T12:00:10.000Z"
    assert limits.usage(user_id, ADDRESS,
                        T0 + timedelta(hours=24, seconds=1))["jobsLast24h"] == 2


def test_usage_gives_each_quota_with_when_it_resets(user_id):
    take(user_id, T0, "completed")
    take(user_id, T0 + timedelta(hours=1), "queued")
    quotas = limits.usage(user_id, ADDRESS, T0 + timedelta(hours=2))["limits"]
    assert quotas["activeJobs"] == {"used": 1, "max": 5,
                                    "resetsAt": "2026-03-01T13:01:40.000Z"}
    assert quotas["jobsPerDay"] == {"used": 2, "max": 100,
                                    "resetsAt": "2026-03-02T12:00:10.000Z"}


def test_limits_belong_to_one_user(user_id):
    for _ in range(5):
        take(user_id, T0, "queued")
    take(ObjectId(), T0, "queued")


# Login lockout and per-address caps, in this process.

def an_address():
    return f"198.51.100.{uuid.uuid4().int % 250}:{uuid.uuid4().hex[:6]}"


def an_email():
    return f"locked-{uuid.uuid4()}@example.com"


def test_after_five_failures_each_attempt_from_the_address_waits_twice_as_long():
    email, address = an_email(), an_address()
    for _ in range(5):
        lockout.reserve_login(address, email, T0)
    waits = []
    moment = T0
    for _ in range(4):
        body, retry_after = refusal(lambda: lockout.reserve_login(address, email, moment))
        assert body == {"message": "Too many login attempts, please try again later"}
        waits.append(retry_after)
        moment += timedelta(seconds=retry_after)
        lockout.reserve_login(address, email, moment)
    assert waits == [1, 2, 4, 8]


def test_the_longest_wait_is_the_lockout_window():
    email, address = an_email(), an_address()
    moment = T0
    for _ in range(20):
        moment += timedelta(seconds=900)
        lockout.reserve_login(address, email, moment)
    _, retry_after = refusal(lambda: lockout.reserve_login(address, email, moment))
    assert retry_after == 900


def test_a_strangers_failures_do_not_slow_the_owner_at_another_address():
    email, stranger, owner = an_email(), an_address(), an_address()
    for _ in range(5):
        lockout.reserve_login(stranger, email, T0)
    refusal(lambda: lockout.reserve_login(stranger, email, T0))
    attempt = lockout.reserve_login(owner, email, T0)
    lockout.login_succeeded(email, owner, attempt)


def test_a_successful_login_forgets_the_failures_from_its_address():
    email, address = an_email(), an_address()
    for _ in range(4):
        lockout.reserve_login(address, email, T0)
    lockout.login_succeeded(email, address, lockout.reserve_login(address, email, T0))
    for _ in range(5):
        lockout.reserve_login(address, email, T0)
    refusal(lambda: lockout.reserve_login(address, email, T0))


def test_past_its_ceiling_an_email_is_locked_from_every_address(monkeypatch):
    with_settings(monkeypatch, LOGIN_MAX_FAILURES_PER_EMAIL="6")
    email = an_email()
    for address in (an_address(), an_address()):
        for _ in range(3):
            lockout.reserve_login(address, email, T0 + timedelta(minutes=1))
    body, retry_after = refusal(lambda: lockout.reserve_login(an_address(), email,
                                                              T0 + timedelta(minutes=2)))
    assert body == {"message": "Too many login attempts, please try again later"}
    assert retry_after == 14 * 60
    lockout.reserve_login(an_address(), email, T0 + timedelta(minutes=16, seconds=1))


def test_an_attempt_refused_at_the_ceiling_is_not_counted_for_its_address(monkeypatch):
    with_settings(monkeypatch, LOGIN_MAX_FAILURES_PER_EMAIL="5")
    email, address = an_email(), an_address()
    for _ in range(5):
        lockout.reserve_login(an_address(), email, T0)
    for _ in range(3):
        refusal(lambda: lockout.reserve_login(address, email, T0))
    monkeypatch.undo()
    for _ in range(5):
        lockout.reserve_login(address, email, T0)
    refusal(lambda: lockout.reserve_login(address, email, T0))


def test_the_owners_success_leaves_the_strangers_failures_counted(monkeypatch):
    with_settings(monkeypatch, LOGIN_MAX_FAILURES_PER_EMAIL="4")
    email, owner = an_email(), an_address()
    for _ in range(3):
        lockout.reserve_login(an_address(), email, T0)
    lockout.login_succeeded(email, owner, lockout.reserve_login(owner, email, T0))
    lockout.reserve_login(an_address(), email, T0)
    refusal(lambda: lockout.reserve_login(owner, email, T0))


def test_five_failed_password_confirmations_lock_the_user_for_fifteen_minutes(user_id):
    for minute in range(5):
        lockout.begin_password_check(user_id, T0 + timedelta(minutes=minute))
    body, retry_after = refusal(
        lambda: lockout.begin_password_check(user_id, T0 + timedelta(minutes=6)))
    assert body == {"message": "Too many login attempts, please try again later"}
    assert retry_after == 9 * 60
    lockout.begin_password_check(user_id, T0 + timedelta(minutes=15, seconds=1))
    lockout.password_check_succeeded(user_id)
    lockout.begin_password_check(user_id, T0 + timedelta(minutes=15, seconds=2))


def test_an_address_gets_thirty_logins_a_minute():
    address = an_address()
    for _ in range(30):
        limits.count_login(address, T0)
    body, retry_after = refusal(lambda: limits.count_login(address, T0))
    assert body == {"message": "Too many requests from this address, please try again later"}
    assert retry_after == 50
    limits.count_registration(address, T0)
    limits.count_login(address, T0 + timedelta(seconds=50))


def test_a_login_refused_for_its_address_reserves_no_attempt_for_its_email(monkeypatch):
    with_settings(monkeypatch, LOGIN_ATTEMPTS_PER_IP_PER_MINUTE="1")
    address, email = an_address(), an_email()
    lockout.reserve_login(address, email, T0)
    for _ in range(5):
        body, _ = refusal(lambda: lockout.reserve_login(address, email, T0))
        assert body == {"message": "Too many requests from this address, please try again later"}
    monkeypatch.undo()
    for _ in range(4):
        lockout.reserve_login(address, email, T0)
    body, _ = refusal(lambda: lockout.reserve_login(address, email, T0))
    assert body == {"message": "Too many login attempts, please try again later"}


def test_a_limit_setting_that_is_not_a_positive_integer_stops_start_up():
    base = {"JWT_SECRET": "x" * 32, "MONGODB_URI": "mongodb://db"}
    for value in ("0", "-1", "five", "2.5"):
        with pytest.raises(settings.SettingsError) as raised:
            settings.from_env({**base, "MAX_ACTIVE_JOBS_PER_USER": value})
        assert str(raised.value).startswith("MAX_ACTIVE_JOBS_PER_USER must be ")
        assert "\n" not in str(raised.value)


# Over HTTP, on stacks.

@pytest.fixture(scope="module")
def slow_stack(stack_env, tmp_path_factory):
    """Jobs wait a minute, on queues of their own, so none ends during a test."""
    env = {**stack_env, "GENERATION_DELAY_SECONDS": "60",
           "STACK_PARAMETERS": "JobsQueueName=limits-jobs DeadLetterQueueName=limits-jobs-dlq"}
    running = StackProcess(env, tmp_path_factory.mktemp("slow") / "stack.log").start()
    yield running
    running.stop()


@pytest.fixture
def slow_api(slow_stack):
    return Client(slow_stack.url)


def delayed_messages(sqs_url, queue_name):
    client = boto3.client("sqs", endpoint_url=sqs_url, region_name="us-east-1")
    url = client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"])


def test_twenty_parallel_submits_give_exactly_five_202_and_fifteen_429(slow_api, backing):
    user = slow_api.register()
    before = delayed_messages(backing["sqs"].url, "limits-jobs")
    responses = []

    def post():
        responses.append(slow_api.post("/generate-content", token=user["token"],
                                       json={"prompt": "Flood", "contentType":
                                             "Blog Post Outline"}))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [202] * 5 + [429] * 15
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json() == {"message": ACTIVE_LIMIT}
        assert 1 <= int(refused.headers["Retry-After"]) <= 90
    assert len(slow_api.get("/generate-content", token=user["token"]).json()) == 5
    assert delayed_messages(backing["sqs"].url, "limits-jobs") - before == 5


def test_usage_shows_what_is_left(slow_api):
    user = slow_api.register()
    body = slow_api.get("/usage", token=user["token"]).json()
    # The month's tokens and cost (tests/test_usage.py) and every limit with
    # when it resets (tests/test_spend.py) sit beside the quota.
    assert body == {
        "activeJobs": 0, "maxActiveJobs": 5, "jobsLast24h": 0, "maxJobsPerDay": 100,
        "nextSlotAt": None, "month": body["month"], "limits": body["limits"]}
    for _ in range(5):
        submit(slow_api, user, unique("Usage"))
    usage = slow_api.get("/usage", token=user["token"])
    assert usage.status_code == 200
    body = usage.json()
    assert (body["activeJobs"], body["jobsLast24h"]) == (5, 5)
    assert body["nextSlotAt"].endswith("Z")


def test_usage_without_a_token_is_401(slow_api):
    response = slow_api.get("/usage")
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}


def test_a_new_token_for_the_same_user_shares_the_quota(slow_api):
    user = slow_api.register()
    for _ in range(5):
        submit(slow_api, user, unique("Quota"))
    again = slow_api.post("/auth/login", json={"email": user["email"],
                                               "password": user["password"]}).json()
    response = slow_api.post("/generate-content", token=again["token"],
                             json={"prompt": "More", "contentType": "Blog Post Outline"})
    assert response.status_code == 429


def test_the_dead_letter_path_frees_the_slot(slow_api):
    user = slow_api.register()
    queued = [submit(slow_api, user, unique("Dead letter")) for _ in range(5)]
    body = json.dumps({"jobId": queued[0]["jobId"]})
    assert worker.give_up({"messageId": "dead-letter", "body": body},
                          time.monotonic() + 30) == worker.DONE
    submit(slow_api, user, unique("After the dead letter"))


@pytest.mark.parametrize("marker", ["", "[payment-required] "])
def test_jobs_that_complete_or_fail_free_their_slots(api, user, marker):
    for job in [submit(api, user, unique(f"{marker}Round one")) for _ in range(5)]:
        wait_until_finished(api, user, job["jobId"])
    for _ in range(5):
        submit(api, user, unique(f"{marker}Round two"))


def test_five_failed_logins_lock_the_email_even_for_the_right_password(api, user):
    for _ in range(5):
        assert api.post("/auth/login", json={"email": user["email"],
                                             "password": "wrong"}).status_code == 401
    response = api.post("/auth/login", json={"email": user["email"].upper(),
                                             "password": user["password"]})
    assert response.status_code == 429
    assert response.json() == {"message": "Too many login attempts, please try again later"}
    assert 1 <= int(response.headers["Retry-After"]) <= 900


def test_known_and_unknown_emails_are_locked_alike(api, user):
    unknown = f"nobody-{uuid.uuid4()}@example.com"
    answers = {}
    for email in (user["email"], unknown):
        answers[email] = [api.post("/auth/login", json={"email": email, "password": "wrong"})
                          for _ in range(6)]
    known, stranger = answers[user["email"]], answers[unknown]
    assert [r.status_code for r in known] == [r.status_code for r in stranger] == \
        [401] * 5 + [429]
    assert [r.json() for r in known] == [r.json() for r in stranger]


@pytest.fixture(scope="module")
def capped_stack(stack_env, tmp_path_factory):
    """Three logins and three registrations per address a minute, four
    login attempts per email, on a database of its own so no other stack's
    requests count."""
    env = {**stack_env, "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "3",
           "REGISTRATIONS_PER_IP_PER_MINUTE": "3", "LOGIN_MAX_FAILURES_PER_EMAIL": "4",
           "MONGODB_DB": "capped"}
    running = StackProcess(env, tmp_path_factory.mktemp("capped") / "stack.log").start()
    yield running
    running.stop()


def at_the_start_of_a_minute():
    """Wait, if need be, so a test's requests fall in one counting window."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_an_address_is_capped_by_its_peer_address_not_x_forwarded_for(capped_stack):
    at_the_start_of_a_minute()
    answers = [post_from(capped_stack, "127.0.0.2", "/auth/login",
                         {"email": "someone@example.com", "password": "wrong"},
                         {"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(4)]
    assert [status for status, _, _ in answers] == [401, 401, 401, 429]
    status, body, retry_after = answers[-1]
    assert body == {"message": "Too many requests from this address, please try again later"}
    assert 1 <= int(retry_after) <= 60
    other = post_from(capped_stack, "127.0.0.3", "/auth/login",
                      {"email": "someone@example.com", "password": "wrong"})
    assert other[0] == 401


def test_x_forwarded_for_from_loopback_itself_does_not_dodge_the_cap(capped_stack):
    """uvicorn trusts forwarded headers from 127.0.0.1 unless told not to.
    An email of its own, so the other test's failures do not lock it."""
    at_the_start_of_a_minute()
    email = f"forwarded-{uuid.uuid4()}@example.com"
    statuses = [post_from(capped_stack, "127.0.0.1", "/auth/login",
                          {"email": email, "password": "wrong"},
                          {"X-Forwarded-For": f"203.0.113.{n}",
                           "Forwarded": f"for=203.0.113.{n}"})[0] for n in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_registrations_are_capped_per_address(capped_stack):
    at_the_start_of_a_minute()
    statuses = [post_from(capped_stack, "127.0.0.4", "/auth/register",
                          {"name": "R", "email": f"r-{uuid.uuid4()}@example.com",
                           "password": "pw"},
                          {"X-Forwarded-For": f"203.0.113.{n}"})[0] for n in range(4)]
    assert statuses == [201, 201, 201, 429]


def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(stack, user):
    strangers = [post_from(stack, "127.0.0.7", "/auth/login",
                           {"email": user["email"], "password": "wrong"})[:2] for _ in range(6)]
    assert strangers == [(401, {"message": "Invalid credentials"})] * 5 + [
        (429, {"message": "Too many login attempts, please try again later"})]
    status, body, _ = post_from(stack, "127.0.0.8", "/auth/login",
                                {"email": user["email"], "password": user["password"]})
    assert (status, body["email"]) == (200, user["email"])


def test_failures_from_many_addresses_past_the_ceiling_lock_the_email_everywhere(capped_stack):
    at_the_start_of_a_minute()
    email = f"ceiling-{uuid.uuid4()}@example.com"
    for source in ("127.0.0.10", "127.0.0.11"):
        for _ in range(2):
            assert post_from(capped_stack, source, "/auth/login",
                             {"email": email, "password": "wrong"})[0] == 401
    status, body, retry_after = post_from(capped_stack, "127.0.0.12", "/auth/login",
                                          {"email": email, "password": "wrong"})
    assert (status, body) == (429, {"message": "Too many login attempts, please try again later"})
    assert 1 <= int(retry_after) <= 900
