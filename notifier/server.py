"""The Socket.IO notifier: authenticates each socket by its JWT, joins it to
its user's room and relays what the workers emit through Redis."""
import asyncio
import logging

import socketio

from chalicelib import auth, notify, settings
from chalicelib.errors import ApiError

log = logging.getLogger("notifier")


def create_server() -> socketio.AsyncServer:
    config = settings.get()
    manager = socketio.AsyncRedisManager(config.redis_url, logger=log)
    origins = [config.cors_origin, f"http://localhost:{config.port}",
               f"http://127.0.0.1:{config.port}"]
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager,
                                  cors_allowed_origins=origins)

    @server.event
    async def connect(sid, environ, data):
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            log.info("refused socket %s: no token", sid)
            raise ConnectionRefusedError("Not authorized, no token")
        try:
            user = await asyncio.to_thread(auth.user_for_token, token)
        except ApiError as error:
            log.info("refused socket %s: %s", sid, error.body["message"])
            raise ConnectionRefusedError(error.body["message"]) from None
        if user is None:
            log.info("refused socket %s: user not found", sid)
            raise ConnectionRefusedError("User not found")
        user_id = str(user["_id"])
        await server.enter_room(sid, notify.room(user_id))
        log.info("socket %s connected for user %s", sid, user_id)

    @server.event
    async def disconnect(sid, reason=None):
        log.info("socket %s disconnected (%s)", sid, reason)

    return server


def asgi_app(other_asgi_app=None):
    return socketio.ASGIApp(create_server(), other_asgi_app=other_asgi_app)
