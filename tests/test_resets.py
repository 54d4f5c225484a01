"""Forgotten passwords: the same answer for any address, a single-use link
by mail (read from the local stack's mailbox), valid for a limited time."""
import re
import time

import pytest
import requests

from devstack.services import StackProcess
from tests.support.client import Client
from tests.support.sessions import login, refused

FORGOT_ANSWER = {"message": "If that email is registered, a link to reset its password "
                            "has been sent"}
INVALID_LINK = {"message": "This reset link is invalid or has expired"}


def forgot(api, email):
    return api.post("/auth/forgot-password", json={"email": email})


def mail_to(api, email, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in requests.get(api.base_url + "/_mail/messages.json", timeout=10).json()
                 if m["to"] == email]
        if found:
            return found
        time.sleep(0.1)
    return []


def link_token(api, user):
    forgot(api, user["email"])
    text = mail_to(api, user["email"])[0]["text"]
    return re.search(r"#reset=([\w-]+)", text).group(1)


def reset(api, token, password="reset-password-789"):
    return api.post("/auth/reset-password", json={"token": token, "password": password})


def test_forgot_password_answers_202_for_a_registered_address(api, user):
    response = forgot(api, user["email"])
    assert (response.status_code, response.json()) == (202, FORGOT_ANSWER)


def test_forgot_password_answers_the_same_for_an_unknown_address(api, user):
    known, unknown = forgot(api, user["email"]), forgot(api, "nobody-" + user["email"])
    assert (unknown.status_code, unknown.json(), sorted(unknown.headers)) == (
        known.status_code, known.json(), sorted(known.headers))


def test_forgot_password_answers_the_same_for_an_address_that_is_no_email(api):
    response = forgot(api, "not an email")
    assert (response.status_code, response.json()) == (202, FORGOT_ANSWER)


def test_forgot_password_without_an_email_is_400(api):
    response = api.post("/auth/forgot-password", json={})
    assert (response.status_code, response.json()) == (
        400, {"message": "Please provide all fields"})


def test_a_reset_link_is_mailed_to_a_registered_address(api, user):
    forgot(api, user["email"])
    [message] = mail_to(api, user["email"])
    assert message["subject"] == "Reset your password"
    assert re.search(r"http://localhost:\d+/#reset=[\w-]{40,}", message["text"])


def test_no_mail_is_sent_for_an_unknown_address(api):
    email = f"unknown-{time.monotonic_ns()}@example.com"
    forgot(api, email)
    assert mail_to(api, email, timeout=1) == []


def test_a_reset_link_sets_the_password_and_answers_fresh_credentials(api, user):
    response = reset(api, link_token(api, user), "reset-password-789")
    assert response.status_code == 200
    assert list(response.json()) == ["_id", "name", "email", "token"]
    assert api.post("/auth/login", json={"email": user["email"],
                                         "password": "reset-password-789"}).status_code == 200


def test_a_reset_ends_every_other_token(api, user):
    other = login(api, user)
    reset(api, link_token(api, user))
    assert [refused(api, token) for token in (user["token"], other)] == [True, True]


def test_a_reset_link_works_once(api, user):
    token = link_token(api, user)
    assert reset(api, token).status_code == 200
    again = reset(api, token, "yet-another-password")
    assert (again.status_code, again.json()) == (400, INVALID_LINK)


def test_a_reset_ends_the_users_other_links(api, user):
    first, second = link_token(api, user), None
    forgot(api, user["email"])
    second = re.search(r"#reset=([\w-]+)", mail_to(api, user["email"])[0]["text"]).group(1)
    assert second != first
    reset(api, second)
    assert (reset(api, first).status_code, reset(api, first).json()) == (400, INVALID_LINK)


def test_an_unknown_reset_token_is_400(api):
    response = reset(api, "no-such-token")
    assert (response.status_code, response.json()) == (400, INVALID_LINK)


def test_a_reset_without_a_password_is_400(api, user):
    response = api.post("/auth/reset-password", json={"token": "x"})
    assert (response.status_code, response.json()) == (
        400, {"message": "Please provide token and password"})


@pytest.fixture(scope="module")
def short_links(stack_env, tmp_path_factory):
    """A stack whose links last 2 s where the default is 30 minutes, and
    whose per-email cap is 2 an hour."""
    running = StackProcess({**stack_env, "PASSWORD_RESET_LINK_SECONDS": "2",
                            "PASSWORD_RESETS_PER_EMAIL_PER_HOUR": "2"},
                           tmp_path_factory.mktemp("resets") / "stack.log").start()
    yield Client(running.url)
    running.stop()


def test_a_reset_link_past_its_lifetime_is_refused(short_links):
    user = short_links.register()
    token = link_token(short_links, user)
    time.sleep(2.5)
    response = reset(short_links, token)
    assert (response.status_code, response.json()) == (400, INVALID_LINK)


def test_a_reset_link_within_its_lifetime_works(short_links):
    user = short_links.register()
    assert reset(short_links, link_token(short_links, user)).status_code == 200


def test_forgot_password_is_throttled_per_email_known_or_not(short_links):
    user = short_links.register()
    for email in (user["email"], f"unknown-{time.monotonic_ns()}@example.com"):
        answers = [forgot(short_links, email) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [202, 202, 429]
        assert answers[2].json() == {
            "message": "Too many password reset requests, please try again later"}
