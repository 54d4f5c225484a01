"""Where the core meets Chalice; only app.py imports it. The core raises
ApiError and knows nothing of the framework; here it becomes Chalice's
Response, with every response's contract-shaped body and CORS origin."""
import functools
import json
import logging
import threading

from chalice import Chalice, CORSConfig, Response
from chalice.app import ChaliceUnhandledError

from chalicelib import settings
from chalicelib.errors import CHALICE_MESSAGES, ApiError, check_body_size

log = logging.getLogger(__name__)


def _per_thread(name):
    """A property whose value each thread sets and reads on its own."""
    return property(lambda app: getattr(app._state, name, None),
                    lambda app, value: setattr(app._state, name, value))


class ThreadSafeChalice(Chalice):
    """A Chalice app whose per-request state is per thread, and whose views'
    ApiErrors reach the middleware.

    Chalice keeps `current_request` and `lambda_context` on the app object.
    In Lambda a container handles one event at a time, but the local server
    runs views on a thread pool, where a shared attribute would hand one
    request's headers and body to another.
    """
    _state = threading.local()
    current_request = _per_thread("request")
    lambda_context = _per_thread("context")

    def route(self, path, **kwargs):
        register = super().route(path, **kwargs)

        def decorator(view):
            register(_letting_errors_through(view))
            return view

        return decorator


class SettingsCors(CORSConfig):
    """The CORS origin of the settings in use, read when Chalice writes a
    response or a preflight (`make package` names its parameter instead)."""

    def get_access_control_headers(self):
        return {**super().get_access_control_headers(),
                "Access-Control-Allow-Origin": settings.get().cors_origin}


class _Through(ChaliceUnhandledError):
    """The one exception Chalice lets through its view wrapper to the
    middleware; any other becomes its own 500."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _letting_errors_through(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            raise _Through(error) from error

    return wrapped


def middleware(request, get_response):
    try:
        if request is not None:
            check_body_size(request.raw_body)
        response = get_response(request)
    except ApiError as error:
        response = _answer(error)
    except _Through as through:
        response = _answer(through.error)
    except Exception:
        log.exception("unhandled error")
        response = _json(500, {"message": CHALICE_MESSAGES[500]})
    response = _translate_chalice_body(response)
    response.headers.setdefault("Content-Type", "application/json")
    response.headers.setdefault("Access-Control-Allow-Origin", settings.get().cors_origin)
    return response


def _answer(error):
    return _json(error.status, error.body, error.headers)


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
