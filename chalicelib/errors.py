"""One error type, which the edge (chalicelib/edge.py) translates into the
contract's `{"message": ...}` bodies. Nothing here knows the web framework:
the worker and the notifier raise and read it too."""
import math

from chalicelib import contract

MAX_BODY_BYTES = 256 * 1024

# Chalice answers some requests itself with {"Code", "Message"} bodies; these
# are the contract-shaped messages that replace them.
CHALICE_MESSAGES = {
    400: contract.BAD_REQUEST,
    405: contract.METHOD_NOT_ALLOWED,
    415: contract.WRONG_MEDIA_TYPE,
    500: contract.SERVER_ERROR,
}


class ApiError(Exception):
    """An error a client should see: a status, the message, extra fields and
    any response headers (a 429's Retry-After)."""

    def __init__(self, status, message, headers=None, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}
        self.headers = headers or {}


def too_many(message, frees, now) -> ApiError:
    """A limit's 429: its message, and Retry-After in whole seconds until
    `frees`, at least one."""
    seconds = max(1, math.ceil((frees - now).total_seconds()))
    return ApiError(429, message, headers={"Retry-After": str(seconds),
                                           "Access-Control-Expose-Headers": "Retry-After"})


def check_body_size(raw_body):
    if len(raw_body or b"") > MAX_BODY_BYTES:
        raise ApiError(413, contract.BODY_TOO_LARGE)
