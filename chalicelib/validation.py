"""Typed request input: a JSON object whose fields are capped strings.

Only strings pass, so no MongoDB operator such as {"$gt": ""} can reach a query.

Hostile input is refused here, with a 400, before any route reads it: the
body must be UTF-8 (no byte order mark, no invalid byte) and JSON without
NaN or Infinity, at most contract.MAX_JSON_DEPTH levels deep, with no key
repeated (parsers in front of the API may read the first of two where this
one reads the last, so neither is taken) and no number beyond what BSON
stores (a signed 64-bit integer, a finite double). Each string field must be
text that can be encoded (no lone surrogate). NUL is refused only in a new
password (see `password`): MongoDB stores it in any string value, no email
can hold one, and an id holding one names nothing.
"""
import json
import math

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


_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1


def json_body(request) -> dict:
    raw = request.raw_body or b""
    if not raw.strip():
        return {}
    # Strict UTF-8, where json.loads would guess UTF-16 or UTF-32, skip a
    # byte order mark and let encoded surrogates through.
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ApiError(400, contract.MALFORMED_JSON)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, contract.MALFORMED_JSON) from None
    body = parse_json(text)
    if not isinstance(body, dict):
        raise ApiError(400, contract.NOT_AN_OBJECT)
    return body


def parse_json(text: str):
    """The value of a JSON text, refused (ApiError 400) when it is not JSON,
    is nested too deeply, repeats a key or holds a number out of range."""
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_int=_integer,
                           parse_float=_double, parse_constant=_not_json)
    except RecursionError:
        raise ApiError(400, contract.TOO_DEEP) from None
    except ValueError:
        raise ApiError(400, contract.MALFORMED_JSON) from None
    _check_depth(value)
    return value


def _object(pairs):
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ApiError(400, contract.REPEATED_KEY)
    return value


def _integer(digits):
    # By length first: int() of thousands of digits is slow, or refused.
    if len(digits) > 20 or not _INT64_MIN <= int(digits) <= _INT64_MAX:
        raise ApiError(400, contract.NUMBER_OUT_OF_RANGE)
    return int(digits)


def _double(literal):
    value = float(literal)
    if not math.isfinite(value):
        raise ApiError(400, contract.NUMBER_OUT_OF_RANGE)
    return value


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def _check_depth(value):
    # Level by level, not by recursion: the parser has just spent the stack.
    level, depth = [value], 0
    while level:
        containers = [item for item in level if isinstance(item, (dict, list))]
        if not containers:
            return
        depth += 1
        if depth > contract.MAX_JSON_DEPTH:
            raise ApiError(400, contract.TOO_DEEP)
        level = [child for container in containers
                 for child in (container.values() if isinstance(container, dict)
                               else container)]


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
    return text(name, value)


def text(name, value: str) -> str:
    """`value` if it can be stored, hashed and answered: encodable as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ApiError(400, contract.not_text(name)) from None
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
        text(name, item)
    return value


def normalised_email(email: str) -> str:
    import email_validator  # only registration needs it; kept out of cold starts

    try:
        checked = email_validator.validate_email(email, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise ApiError(400, contract.INVALID_EMAIL) from None
    return checked.normalized.lower()


def password(value: str) -> str:
    """A password that can be set. Only setting one is refused: a password
    stored before a rule came in must still log in."""
    # bcrypt reads at most 72 bytes; longer passwords would be cut silently.
    if len(value.encode()) > 72:
        raise ApiError(400, contract.PASSWORD_TOO_LONG)
    # This bcrypt hashes a NUL like any byte, but one that reads C strings
    # (Node's, which the Express original used) stops at it: "a\0b" would
    # match "a" there.
    if "\0" in value:
        raise ApiError(400, contract.PASSWORD_HOLDS_NUL)
    return value
