"""One error type, which the edge (chalicelib/edge.py) translates into the
contract's `{"message": ...}` bodies. Nothing here knows the web framework:
the worker and the notifier raise and read it too."""

MAX_BODY_BYTES = 256 * 1024

# Chalice answers some requests itself with {"Code", "Message"} bodies; these
# are the contract-shaped messages that replace them.
CHALICE_MESSAGES = {
    400: "Bad request",
    405: "Method not allowed",
    415: "Content-Type must be application/json",
    500: "Server error",
}


class ApiError(Exception):
    """An error a client should see: a status, the message, extra fields and
    any response headers (a 429's Retry-After)."""

    def __init__(self, status, message, headers=None, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}
        self.headers = headers or {}


def check_body_size(raw_body):
    if len(raw_body or b"") > MAX_BODY_BYTES:
        raise ApiError(413, "Request body too large")
