"""One error type, translated once into the contract's `{"message": ...}` bodies."""
import json
import logging

from chalice import Response
from chalice.app import ChaliceUnhandledError

from chalicelib import contract, settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024

# Chalice answers some requests itself with {"Code", "Message"} bodies; these
# are the contract-shaped messages that replace them.
CHALICE_MESSAGES = {
    400: contract.BAD_REQUEST,
    405: contract.METHOD_NOT_ALLOWED,
    415: contract.WRONG_MEDIA_TYPE,
    500: contract.SERVER_ERROR,
}


class ApiError(ChaliceUnhandledError):
    """An error a client should see: a status, the message, extra fields and
    any response headers (a 429's Retry-After).

    It derives from ChaliceUnhandledError because that is the one exception
    Chalice lets through its view wrapper to the middleware below.
    """

    def __init__(self, status, message, headers=None, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}
        self.headers = headers or {}


def middleware(request, get_response):
    if request is not None and len(request.raw_body or b"") > MAX_BODY_BYTES:
        response = _json(413, {"message": contract.BODY_TOO_LARGE})
    else:
        try:
            response = get_response(request)
        except ApiError as error:
            response = _json(error.status, error.body, error.headers)
        except Exception:
            log.exception("unhandled error")
            response = _json(500, {"message": contract.SERVER_ERROR})
    response = _translate_chalice_body(response)
    response.headers.setdefault("Content-Type", "application/json")
    response.headers.setdefault("Access-Control-Allow-Origin", settings.cors_origin())
    return response


def _translate_chalice_body(response):
    body = response.body
    if isinstance(body, str) and response.status_code >= 400:
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if isinstance(body, dict) and "Code" in body and "message" not in body:
        status = response.status_code
        message = CHALICE_MESSAGES.get(status, CHALICE_MESSAGES[500])
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        return _json(status, {"message": message}, headers)
    return response


def _json(status, body, headers=None):
    return Response(body=body, status_code=status,
                    headers={**(headers or {}), "Content-Type": "application/json"})
