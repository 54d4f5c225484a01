"""The Socket.IO notifier: authenticates each socket by its JWT, joins it to
its user's room and relays what the workers emit through Redis, so any
number of tabs and any number of notifier processes see every event."""
import asyncio
import json
import logging

import socketio
from socketio.exceptions import ConnectionRefusedError

from chalicelib import auth, notify, settings
from chalicelib.errors import ApiError

log = logging.getLogger("notifier")


class _JobLoggingRedisManager(socketio.AsyncRedisManager):
    """Logs each relayed `job_completed` with its jobId, so one job can be
    followed from the API through the worker to the sockets."""

    async def _handle_emit(self, message):
        data = message.get("data") or [None]
        if message.get("event") == "job_completed" and isinstance(data[0], dict):
            log.info("job %s: job_completed relayed to %s", data[0].get("jobId"),
                     message.get("room"))
        await super()._handle_emit(message)


def create_server() -> socketio.AsyncServer:
    config = settings.get()
    # The logger is passed in so Redis connection failures are visible.
    manager = _JobLoggingRedisManager(config.redis_url, logger=log,
                                      redis_options={"password": config.redis_auth_token})
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager,
                                  cors_allowed_origins=_allowed_origin)

    @server.event
    async def connect(sid, environ, data):
        user_id = await _authenticate(data)
        await server.enter_room(sid, notify.room(user_id))
        log.info("socket %s connected for user %s", sid, user_id)

    @server.event
    async def disconnect(sid, reason=None):
        log.info("socket %s disconnected (%s)", sid, reason)

    return server


def _allowed_origin(origin, environ):
    """The configured frontend, and pages served from the notifier's own
    origin (locally, the web client shares the API's port)."""
    own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
    return origin in (settings.get().cors_origin, own)


async def _authenticate(data) -> str:
    """The user id the handshake's `auth.token` proves; refuses the socket
    otherwise, which the client sees as `connect_error` with the message."""
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        return _refuse("Not authorized, no token")
    try:
        # pymongo blocks; a thread keeps the event loop serving other sockets.
        user = await asyncio.to_thread(auth.user_for_token, token)
    except ApiError as error:
        return _refuse(error.body["message"])
    if user is None:
        return _refuse("User not found")
    return str(user["_id"])


def _refuse(reason):
    log.info("socket refused: %s", reason)
    raise ConnectionRefusedError(reason)


def asgi_app(other_asgi_app=None):
    """Socket.IO at /socket.io/; everything else goes to `other_asgi_app`."""
    return socketio.ASGIApp(create_server(), other_asgi_app=other_asgi_app or _health)


async def _health(scope, receive, send):
    """GET /health for load balancers; anything else is a JSON 404."""
    if scope["type"] != "http":
        return
    healthy = scope["path"] == "/health"
    status, body = (200, {"status": "ok"}) if healthy else (404, {"message": "Not found"})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
