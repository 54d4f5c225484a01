"""Typed request input: a JSON object whose fields are capped strings.

Only strings pass, so no MongoDB operator such as {"$gt": ""} can reach a query.
"""
import json

from chalicelib import contract
from chalicelib.errors import ApiError

LIMITS = {
    "name": 100,
    "email": 254,
    "password": 1024,
    "currentPassword": 1024,
    "newPassword": 1024,
    "title": 200,
    "type": 50,
    "contentType": 50,
    "body": 100_000,
    "prompt": 4_000,
    "search": 200,
    "description": 1_000,
    "sample": 3_000,
    # Voices, generation options (chalicelib/options.py) and rewrites.
    "tone": 60,
    "language": 40,
    "audience": 200,
    "keyword": 40,
    "productName": 120,
    "feature": 200,
    "voiceId": 24,
    "length": 10,
    "platform": 20,
    "note": 500,
    "instruction": 20,
    "cursor": 200,
    "token": 200,
}


def json_body(request) -> dict:
    raw = request.raw_body or b""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, contract.MALFORMED_JSON) from None
    if not isinstance(body, dict):
        raise ApiError(400, contract.NOT_AN_OBJECT)
    return body


def strings(body: dict, *names) -> dict:
    """The named fields that are present, each checked to be a capped string;
    null is not a string, so `{"body": null}` is refused, never ignored."""
    return {name: string(name, body[name]) for name in names if name in body}


def required_strings(body: dict, names, message) -> dict:
    """Required fields: absent, null or blank is the contract's `message`,
    because a form's empty field may arrive as null; any other non-string is
    refused like an optional one."""
    values = strings({name: value for name, value in body.items() if value is not None},
                     *names)
    if any(not values.get(name, "").strip() for name in names):
        raise ApiError(400, message)
    return values


def string(name, value):
    if not isinstance(value, str):
        raise ApiError(400, contract.not_a_string(name))
    if len(value) > LIMITS[name]:
        raise ApiError(400, contract.too_long(name, LIMITS[name]))
    return value


def content_type(name: str, message: str) -> str:
    """`name` if it is one of the contract's content types; else `message`."""
    if name not in contract.CONTENT_TYPES:
        raise ApiError(400, message)
    return name


def string_list(name, value, item_name, max_items) -> list:
    """A list of at most `max_items` capped strings (a voice's samples, a
    generation's keywords)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, contract.not_a_list(name))
    if len(value) > max_items:
        raise ApiError(400, contract.too_many_items(name, max_items))
    for item in value:
        if len(item) > LIMITS[item_name]:
            raise ApiError(400, contract.item_too_long(name, LIMITS[item_name]))
    return value


def normalised_email(email: str) -> str:
    import email_validator  # only registration needs it; kept out of cold starts

    try:
        checked = email_validator.validate_email(email, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise ApiError(400, contract.INVALID_EMAIL) from None
    return checked.normalized.lower()


def password(value: str) -> str:
    # bcrypt reads at most 72 bytes; longer passwords would be cut silently.
    if len(value.encode()) > 72:
        raise ApiError(400, contract.PASSWORD_TOO_LONG)
    return value
