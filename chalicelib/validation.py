"""Typed request input: a JSON object whose fields are capped strings.

Only strings pass, so no MongoDB operator such as {"$gt": ""} can reach a query.
"""
import json

from chalicelib.errors import ApiError

CONTENT_TYPES = ("Blog Post Outline", "Product Description", "Social Media Caption")

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
        raise ApiError(400, "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
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
        raise ApiError(400, f"{name} must be a string")
    if len(value) > LIMITS[name]:
        raise ApiError(400, f"{name} must be at most {LIMITS[name]} characters")
    return value


def normalised_email(email: str) -> str:
    import email_validator  # only registration needs it; kept out of cold starts

    try:
        checked = email_validator.validate_email(email, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise ApiError(400, "Please provide a valid email") from None
    return checked.normalized.lower()


def password(value: str) -> str:
    # bcrypt reads at most 72 bytes; longer passwords would be cut silently.
    if len(value.encode()) > 72:
        raise ApiError(400, "password must be at most 72 bytes")
    return value
