"""Revocable tokens: logout, logout everywhere, the stage as audience, and
the sockets of an ended session closed through Redis."""
import time

import jwt
import pytest

from app import app
from tests.support import JWT_SECRET
from tests.support.listener import Listener
from tests.support.notifier import Notifier
from tests.support.sessions import CLOSE_SECONDS, closed_within, login, refused

PUBLIC = {("POST", "/auth/register"), ("POST", "/auth/login"),
          ("POST", "/auth/forgot-password"), ("POST", "/auth/reset-password"),
          ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/redoc.standalone.js")}
def protected_routes():
    for path, methods in app.routes.items():
        for method in methods:
            if (method, path) not in PUBLIC:
                yield method, path.replace("{content_id}", "0123456789abcdef01234567").replace(
                    "{job_id}", "no-such-job")


@pytest.fixture
def sockets():
    opened = []

    def open_socket(url, token):
        opened.append(Listener(url, token).connect())
        return opened[-1]

    yield open_socket
    for listener in opened:
        listener.close()


@pytest.fixture(scope="module")
def notifier(stack, tmp_path_factory):
    """A second notifier process, on its own port, sharing the stack's Redis."""
    started = Notifier(tmp_path_factory.mktemp("notifier") / "notifier.log").start()
    yield started
    started.stop()


def test_logout_answers_200_logged_out(api, user):
    response = api.post("/auth/logout", token=user["token"])
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out"}


def test_a_logged_out_token_is_refused_by_every_protected_route(api, user):
    api.post("/auth/logout", token=user["token"])
    for method, path in protected_routes():
        response = api.request(method, path, token=user["token"], json={})
        assert (method, path, response.status_code, response.json()) == (
            method, path, 401, {"message": "Not authorized"})


def test_a_logout_leaves_the_users_other_tokens_working(api, user):
    other = login(api, user)
    api.post("/auth/logout", token=user["token"])
    assert api.get("/auth/me", token=other).status_code == 200


def test_logout_everywhere_ends_every_token_of_the_user(api, user):
    others = [login(api, user), login(api, user)]
    response = api.post("/auth/logout", token=user["token"], json={"everywhere": True})
    assert response.status_code == 200
    assert [refused(api, token) for token in [user["token"], *others]] == [True] * 3


def test_logout_everywhere_leaves_other_users_working(api, user, other_user):
    api.post("/auth/logout", token=user["token"], json={"everywhere": True})
    assert api.get("/auth/me", token=other_user["token"]).status_code == 200


def test_the_user_can_log_in_again_after_logout_everywhere(api, user):
    api.post("/auth/logout", token=user["token"], json={"everywhere": True})
    assert api.get("/auth/me", token=login(api, user)).status_code == 200


def test_logout_with_an_everywhere_that_is_no_boolean_is_400(api, user):
    response = api.post("/auth/logout", token=user["token"], json={"everywhere": "yes"})
    assert response.status_code == 400
    assert response.json() == {"message": "everywhere must be true or false"}
    assert api.get("/auth/me", token=user["token"]).status_code == 200


def test_a_logged_out_token_cannot_open_a_socket(stack, api, user):
    api.post("/auth/logout", token=user["token"])
    listener = Listener(stack.url, user["token"])
    with pytest.raises(Exception):
        listener.connect()
    assert listener.refusal == "Not authorized"


def test_logout_closes_the_sockets_of_that_session_only(stack, api, user, sockets):
    other = login(api, user)
    ended, kept = sockets(stack.url, user["token"]), sockets(stack.url, other)
    api.post("/auth/logout", token=user["token"])
    assert closed_within(ended, CLOSE_SECONDS)
    assert kept.client.connected


def test_logout_everywhere_closes_sockets_on_every_notifier_process(stack, notifier, api,
                                                                    user, sockets):
    opened = [sockets(stack.url, user["token"]), sockets(notifier.url, login(api, user))]
    api.post("/auth/logout", token=user["token"], json={"everywhere": True})
    assert [closed_within(listener, CLOSE_SECONDS) for listener in opened] == [True, True]


def test_logout_everywhere_leaves_other_users_sockets_open(stack, api, user, other_user,
                                                           sockets):
    kept = sockets(stack.url, other_user["token"])
    ended = sockets(stack.url, user["token"])
    api.post("/auth/logout", token=user["token"], json={"everywhere": True})
    assert closed_within(ended, CLOSE_SECONDS)
    assert kept.client.connected


def test_the_token_carries_the_stage_as_audience(user):
    claims = jwt.decode(user["token"], JWT_SECRET, algorithms=["HS256"], audience="test")
    assert claims["aud"] == "test"


def test_a_token_of_another_stage_is_refused(api, user):
    claims = jwt.decode(user["token"], JWT_SECRET, algorithms=["HS256"], audience="test")
    foreign = jwt.encode({**claims, "aud": "prod"}, JWT_SECRET, algorithm="HS256")
    assert refused(api, foreign)


def test_a_token_of_another_stage_cannot_open_a_socket(stack, user):
    claims = jwt.decode(user["token"], JWT_SECRET, algorithms=["HS256"], audience="test")
    listener = Listener(stack.url, jwt.encode({**claims, "aud": "prod"}, JWT_SECRET,
                                              algorithm="HS256"))
    with pytest.raises(Exception):
        listener.connect()
    assert listener.refusal == "Not authorized"


def legacy_token(user):
    """A token of the contract's shape alone, as the release before this one issued."""
    now = int(time.time())
    return jwt.encode({"id": user["_id"], "iat": now, "exp": now + 600}, JWT_SECRET,
                      algorithm="HS256")


def test_a_token_of_the_contracts_shape_alone_still_works(api, user):
    assert api.get("/auth/me", token=legacy_token(user)).status_code == 200


def test_a_token_of_the_contracts_shape_alone_can_log_out(api, user):
    token = legacy_token(user)
    assert api.post("/auth/logout", token=token).status_code == 200
    assert refused(api, token)
    assert api.get("/auth/me", token=user["token"]).status_code == 200


def test_logout_everywhere_ends_tokens_of_the_contracts_shape_alone(api, user):
    token = legacy_token(user)
    api.post("/auth/logout", token=user["token"], json={"everywhere": True})
    assert refused(api, token)
