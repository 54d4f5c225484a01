"""Hostile input (issue 21): whatever an attacker sends, each route that
reads a body, a query or an id answers a 4xx with the exact `{"message"}`,
never a 500, and what the user has stored stays as it was."""
import base64
import json
import time

import pytest

from chalicelib import auth, contract, db
from chalicelib.validation import LIMITS
from tests.support.hostile import (BOM, handshake, nested, send, stored, victim as
                                   make_victim, with_member)
from tests.support.sessions import login

# Each route that reads a body, with a body it would take. "{email}",
# "{password}" and the ids are the victim's, so a hostile request that were
# taken would change what the victim has.
BODIES = {
    "register": ("POST", "/auth/register",
                 {"name": "Mallory", "email": "{email}", "password": "password123"}),
    "login": ("POST", "/auth/login", {"email": "{email}", "password": "{password}"}),
    "forgot-password": ("POST", "/auth/forgot-password", {"email": "{email}"}),
    "reset-password": ("POST", "/auth/reset-password",
                       {"token": "not-a-link", "password": "new-password"}),
    "logout": ("POST", "/auth/logout", {"everywhere": True}),
    "change-password": ("PUT", "/auth/password",
                        {"currentPassword": "{password}", "newPassword": "new-password"}),
    "delete-account": ("DELETE", "/auth/me", {"password": "{password}"}),
    "create-content": ("POST", "/content",
                       {"title": "T", "type": "Blog Post Outline", "body": "B"}),
    "update-content": ("PUT", "/content/{item}",
                       {"title": "Changed", "type": "Product Description", "body": "Changed"}),
    "rewrite": ("POST", "/content/{item}/rewrite",
                {"instruction": "translate", "language": "French", "note": "Keep it short"}),
    "create-voice": ("POST", "/voices", {"name": "Loud", "description": "Shouts."}),
    "update-voice": ("PUT", "/voices/{voice}", {"name": "Changed", "description": "Changed"}),
    "generate": ("POST", "/generate-content",
                 {"prompt": "Anything", "contentType": "Blog Post Outline"}),
    "save": ("POST", "/generate-content/{job}/save", {"title": "Saved"}),
}
STRING_FIELDS = [(route, field) for route, (_, _, body) in BODIES.items()
                 for field, value in body.items() if isinstance(value, str)]


def bytes_of(text):
    return text.encode()


# A body's hostile forms, each made from the body the route would take.
BODY_CASES = {
    "an array 10,000 deep": (lambda body: bytes_of(nested(10_000)), contract.TOO_DEEP),
    "an object 10,000 deep": (lambda body: bytes_of(
        with_member(body, '"x": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000)), contract.TOO_DEEP),
    "a member one level past the bound": (lambda body: bytes_of(
        with_member(body, '"x": ' + nested(contract.MAX_JSON_DEPTH))), contract.TOO_DEEP),
    "a repeated key": (lambda body: bytes_of(with_member(
        body, f"{json.dumps(next(iter(body)))}: {json.dumps(next(iter(body.values())))}")),
        contract.REPEATED_KEY),
    "an integer of 5,000 digits": (lambda body: bytes_of(with_member(body, '"x": ' + "9" * 5000)),
                                   contract.NUMBER_OUT_OF_RANGE),
    "an integer past 64 bits": (lambda body: bytes_of(with_member(body, f'"x": {2 ** 63}')),
                                contract.NUMBER_OUT_OF_RANGE),
    "a number past a double": (lambda body: bytes_of(with_member(body, '"x": -1e999')),
                               contract.NUMBER_OUT_OF_RANGE),
    "NaN": (lambda body: bytes_of(with_member(body, '"x": NaN')), contract.MALFORMED_JSON),
    "Infinity": (lambda body: bytes_of(with_member(body, '"x": Infinity')),
                 contract.MALFORMED_JSON),
    "a byte order mark": (lambda body: BOM + bytes_of(json.dumps(body)), contract.MALFORMED_JSON),
    "an invalid UTF-8 byte": (lambda body: bytes_of(json.dumps(body))[:-1] + b', "x": "\xff"}',
                              contract.MALFORMED_JSON),
    "a surrogate encoded as UTF-8": (
        lambda body: bytes_of(json.dumps(body))[:-1] + b', "x": "\xed\xa0\x80"}',
        contract.MALFORMED_JSON),
    "UTF-16": (lambda body: json.dumps(body).encode("utf-16"), contract.MALFORMED_JSON),
}

# What other fields hold, merged into a route's body, and the answer.
NESTED_CASES = [
    ("create-voice", {"samples": ["\ud800"]}, 400, contract.not_text("samples")),
    ("update-voice", {"samples": ["Fine.", "\ud800"]}, 400, contract.not_text("samples")),
    ("generate", {"options": {"tone": "\ud800"}}, 400, contract.not_text("tone")),
    ("generate", {"options": {"keywords": ["\ud800"]}}, 400, contract.not_text("keywords")),
    ("generate", {"options": {"voiceId": "\ud800"}}, 400, contract.not_text("voiceId")),
    ("generate", {"options": {"\ud800": "x"}}, 400, contract.unknown_option()),
    ("generate", {"options": {"variants": 2 ** 63 - 1}}, 400, contract.BAD_VARIANTS),
    ("generate", {"options": {"voiceId": "0123456789abcdef0123456\0"}}, 404,
     contract.VOICE_NOT_FOUND),
    ("save", {"variant": 2 ** 63 - 1}, 400, contract.no_such_variant(1)),
    ("save", {"replace": {"$ne": False}}, 400, contract.REPLACE_NOT_BOOLEAN),
    ("logout", {"everywhere": "\ud800"}, 400, contract.EVERYWHERE_NOT_BOOLEAN),
]

# Each route that takes an id in its path, with its not-found message.
ID_ROUTES = [
    ("PUT", "/content/{}", "item", {"title": "Changed"}, contract.CONTENT_NOT_FOUND),
    ("DELETE", "/content/{}", "item", None, contract.CONTENT_NOT_FOUND),
    ("GET", "/content/{}/export", "item", None, contract.CONTENT_NOT_FOUND),
    ("POST", "/content/{}/rewrite", "item", {"instruction": "improve"},
     contract.CONTENT_NOT_FOUND),
    ("PUT", "/voices/{}", "voice", {"name": "Changed"}, contract.VOICE_NOT_FOUND),
    ("DELETE", "/voices/{}", "voice", None, contract.VOICE_NOT_FOUND),
    ("GET", "/generate-content/{}", "job", None, contract.JOB_NOT_FOUND),
    ("POST", "/generate-content/{}/save", "job", {}, contract.JOB_NOT_FOUND),
    ("POST", "/generate-content/{}/regenerate", "job", None, contract.JOB_NOT_FOUND),
    ("POST", "/generate-content/{}/cancel", "job", None, contract.JOB_NOT_FOUND),
]
# "{own}" is the victim's own id of the route's kind.
HOSTILE_IDS = {"7,000 characters": "x" * 7000, "NUL": "%00", "an encoded surrogate": "%ED%A0%80",
               "own id and NUL": "{own}%00", "own id and one more": "{own}0",
               "an operator": "%7B%22%24ne%22%3A1%7D"}

# Query parameters, with the answer; "{item}" is the victim's.
QUERIES = [
    ("/content?search=" + "x" * (LIMITS["search"] + 1),
     contract.too_long("search", LIMITS["search"])),
    ("/auth/me/export?cursor=" + "x" * (LIMITS["cursor"] + 1),
     contract.too_long("cursor", LIMITS["cursor"])),
    ("/auth/me/export?cursor=%00", contract.INVALID_CURSOR),
    ("/auth/me/export?cursor=" + base64.urlsafe_b64encode(b"contents:\xed\xa0\x80").decode(),
     contract.INVALID_CURSOR),
    ("/auth/me/export?cursor=" + base64.urlsafe_b64encode(b"\xff\xfe").decode(),
     contract.INVALID_CURSOR),
    ("/auth/me/export?cursor=" + base64.urlsafe_b64encode(b"users:" + b"0" * 24).decode(),
     contract.INVALID_CURSOR),
    ("/content/{item}/export?format=%00", contract.UNKNOWN_FORMAT),
    ("/content/{item}/export?format=" + "x" * 5000, contract.UNKNOWN_FORMAT),
]


@pytest.fixture(scope="module")
def victim(api):
    return make_victim(api)


def filled(value, victim):
    """A body's or a path's placeholders with the victim's values."""
    if isinstance(value, str):
        return value.format(**victim)
    if isinstance(value, dict):
        return {key: filled(item, victim) for key, item in value.items()}
    return value


def route_of(name, victim):
    method, path, body = BODIES[name]
    return method, filled(path, victim), filled(body, victim)


def refused_without_change(api, victim, method, path, data, status, message):
    before = stored(api, victim)
    response = send(api, method, path, token=victim["token"], data=data)
    assert (response.status_code, response.json()) == (status, {"message": message})
    assert stored(api, victim) == before


@pytest.mark.parametrize("case", BODY_CASES)
@pytest.mark.parametrize("route", BODIES)
def test_a_hostile_body_is_refused_and_changes_nothing(api, victim, route, case):
    method, path, body = route_of(route, victim)
    make, message = BODY_CASES[case]
    refused_without_change(api, victim, method, path, make(body), 400, message)


@pytest.mark.parametrize("route, field", STRING_FIELDS)
def test_a_lone_surrogate_in_a_string_field_is_refused_and_changes_nothing(api, victim, route,
                                                                           field):
    method, path, body = route_of(route, victim)
    data = json.dumps({**body, field: body[field] + "\ud800"}).encode()
    refused_without_change(api, victim, method, path, data, 400, contract.not_text(field))


@pytest.mark.parametrize("value", [42, True, 1.5, {"$gt": ""}, ["x"]],
                         ids=["number", "bool", "double", "operator", "list"])
@pytest.mark.parametrize("route, field", STRING_FIELDS)
def test_a_non_string_in_a_string_field_is_refused_and_changes_nothing(api, victim, route,
                                                                       field, value):
    method, path, body = route_of(route, victim)
    data = json.dumps({**body, field: value}).encode()
    refused_without_change(api, victim, method, path, data, 400, contract.not_a_string(field))


@pytest.mark.parametrize("route, extra, status, message", NESTED_CASES)
def test_hostile_values_inside_a_body_are_refused_and_change_nothing(api, victim, route, extra,
                                                                     status, message):
    method, path, body = route_of(route, victim)
    data = json.dumps({**body, **filled(extra, victim)}).encode()
    refused_without_change(api, victim, method, path, data, status, message)


@pytest.mark.parametrize("route, field", [("register", "password"),
                                          ("change-password", "newPassword"),
                                          ("reset-password", "password")])
def test_a_new_password_holding_nul_is_refused_and_changes_nothing(api, victim, route, field):
    method, path, body = route_of(route, victim)
    data = json.dumps({**body, field: "pass\0word123"}).encode()
    refused_without_change(api, victim, method, path, data, 400, contract.PASSWORD_HOLDS_NUL)


def test_a_registration_refused_for_its_body_stores_no_account(api):
    email = f"refused-{time.monotonic_ns()}@example.com"
    response = send(api, "POST", "/auth/register", data=bytes_of(
        with_member({"name": "N", "email": email, "password": "password123"},
                    f'"email": "{email}"')))
    assert (response.status_code, response.json()) == (400, {"message": contract.REPEATED_KEY})
    assert api.post("/auth/register", json={"name": "N", "email": email,
                                            "password": "password123"}).status_code == 201


def test_a_login_password_holding_nul_is_checked_not_refused(api, user):
    response = api.post("/auth/login", json={"email": user["email"], "password": "pass\0word"})
    assert (response.status_code, response.json()) == (
        401, {"message": contract.INVALID_CREDENTIALS})


def test_a_password_holding_nul_set_before_the_rule_still_logs_in(api, user):
    db.get().users.update_one({"email": user["email"]},
                              {"$set": {"password": auth.hash_password("old\0password")}})
    assert login(api, {**user, "password": "old\0password"})


def test_a_body_nested_to_the_bound_is_read(api, user):
    body = {"title": "Deep", "type": "Blog Post Outline", "body": "B"}
    response = send(api, "POST", "/content", token=user["token"], data=bytes_of(
        with_member(body, '"x": ' + nested(contract.MAX_JSON_DEPTH - 1))))
    assert response.status_code == 201
    assert response.json()["title"] == "Deep"


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
@pytest.mark.parametrize("method, path, kind, body, message", ID_ROUTES,
                         ids=[f"{method} {path}" for method, path, *_ in ID_ROUTES])
def test_a_hostile_id_is_not_found_and_changes_nothing(api, victim, method, path, kind, body,
                                                       message, hostile):
    target = path.format(HOSTILE_IDS[hostile].format(own=victim[kind]))
    data = json.dumps(body).encode() if body is not None else b""
    refused_without_change(api, victim, method, target, data, 404, message)


@pytest.mark.parametrize("query, message", QUERIES)
def test_a_hostile_query_parameter_is_refused(api, victim, query, message):
    refused_without_change(api, victim, "GET", filled(query, victim), b"", 400, message)


AUTH_CASES = {
    "an array 2,000 deep": ("40" + nested(2000), contract.MALFORMED_AUTH),
    "an object past the bound": ("40" + '{"a":' * 33 + "1" + "}" * 33, contract.MALFORMED_AUTH),
    "a repeated token": ('40{"token":"x","token":"y"}', contract.MALFORMED_AUTH),
    "a number past a double": ('40{"token":1e999}', contract.MALFORMED_AUTH),
    "NaN": ('40{"token":NaN}', contract.MALFORMED_AUTH),
    "not JSON": ("40{token", contract.MALFORMED_AUTH),
    "a lone surrogate": ('40{"token":"\\ud800"}', contract.not_text("token")),
    "a number": ('40{"token":42}', contract.NO_TOKEN),
    "an operator": ('40{"token":{"$ne":null}}', contract.NO_TOKEN),
    "a list": ('40["token"]', contract.NO_TOKEN),
    "NUL": ('40{"token":"\\u0000"}', contract.NOT_AUTHORIZED),
}


@pytest.mark.parametrize("case", AUTH_CASES)
def test_a_hostile_handshake_auth_gets_connect_error_and_the_session_goes_on(stack, user, case):
    connect_packet, message = AUTH_CASES[case]
    refusal, accepted = handshake(stack.url, connect_packet,
                                  then="40" + json.dumps({"token": user["token"]}))
    assert refusal == "44" + json.dumps({"message": message}, separators=(",", ":"))
    assert accepted.startswith('40{"sid":')
