"""The Socket.IO notifier: authenticates each socket by its JWT, joins it to
its user's room and relays what the workers emit through Redis, so any
number of tabs and any number of notifier processes see every event. (The
worker logs each emit with its jobId and room; this logs each socket with
its user, so a job can be followed to the sockets that received it.)"""
import asyncio
import logging
import time
from datetime import datetime, timezone

import socketio
from aiohttp import web
from socketio.exceptions import ConnectionRefusedError

from chalicelib import auth, contract, db, jobs, metrics, notify, settings, validation
from chalicelib.errors import ApiError
from notifier import guard
from notifier.relay import Relay

log = logging.getLogger("notifier")

CATCH_UP_LIMIT = 50
# A worker writes the result before it publishes the event, so an event
# lost with the subscription may belong to a job finished a little earlier.
LOSS_MARGIN_SECONDS = 2


def create_server(async_mode) -> socketio.AsyncServer:
    config = settings.get()
    # The user and the address of each socket: for the catch-up owed when
    # the relay's subscription comes back, and to free their places under
    # the caps when it goes.
    users, addresses = {}, {}

    def restored(lost_at):
        since = datetime.fromtimestamp(lost_at - LOSS_MARGIN_SECONDS, timezone.utc)
        server.start_background_task(_catch_up_everyone, server, dict(users), since)

    # Each socket's session and token generation, to close those a logout,
    # a new password or a deleted account ends.
    sessions = {}

    async def sessions_ended(data):
        for sid, user_id in list(users.items()):
            if user_id == data.get("userId") and _ended(sessions.get(sid), data):
                log.info("socket %s: its session ended; disconnecting", sid)
                await server.disconnect(sid)

    redis_options = {"password": config.redis_auth_token}
    relay = Relay(config.redis_url, restored, sessions_ended, redis_options=redis_options)
    # The contract's client sends a handshake and pongs, never an event, so
    # packets are capped far below Engine.IO's 1 MB.
    server = guard.HeldServer(config.notifier_connect_timeout_seconds, async_mode=async_mode,
                              client_manager=relay, cors_allowed_origins=_allowed_origin,
                              serializer=guard.HandshakePacket,
                              max_http_buffer_size=config.notifier_max_packet_bytes)
    per_user = guard.Tally(config.notifier_max_sockets_per_user)
    per_address = guard.Tally(config.notifier_max_sockets_per_address)
    catch_ups = guard.CatchUpRate(config.redis_url, config.catch_ups_per_user_per_minute,
                                  redis_options)
    # A socket may live longer than the token that opened it: it is closed
    # when the token expires, as a request with that token would be refused.
    expiries = {}

    @server.event
    async def connect(sid, environ, data):
        # The address's slot is taken before the token is checked, so
        # sockets racing through authentication cannot pass the cap together.
        address = guard.client_address(environ, config.notifier_trusted_proxies)
        if not per_address.take(address):
            _refuse(contract.TOO_MANY_SOCKETS_FROM_ADDRESS)
        try:
            user_id, claims = await _authenticate(data)
            if not per_user.take(user_id):
                _refuse(contract.TOO_MANY_SOCKETS_FOR_USER)
        except BaseException:
            per_address.release(address)
            raise
        users[sid], addresses[sid] = user_id, address
        sessions[sid] = (auth.session_of(claims), claims.get("gen", 0))
        await server.enter_room(sid, notify.room(user_id))
        expiries[sid] = asyncio.get_running_loop().call_later(
            max(0.0, claims["exp"] - time.time()),
            lambda: asyncio.ensure_future(server.disconnect(sid)))
        log.info("socket %s connected for user %s", sid, user_id)
        since = _since(data)
        if since is not None:
            # A task runs once this handler has returned and the socket's
            # acceptance is queued, so catch-up events follow the accept.
            server.start_background_task(_catch_up_if_allowed, server, catch_ups, sid, user_id,
                                         since)

    @server.event
    async def disconnect(sid, reason=None):
        if sid in users:
            per_user.release(users.pop(sid))
            per_address.release(addresses.pop(sid))
        sessions.pop(sid, None)
        expiry = expiries.pop(sid, None)
        if expiry:
            expiry.cancel()
        log.info("socket %s disconnected (%s)", sid, reason)

    return server


def _allowed_origin(origin, environ):
    """The configured frontend, and pages served from the notifier's own
    origin (locally, the web client shares the API's port)."""
    own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
    return origin in (settings.get().cors_origin, own)


async def _authenticate(data):
    """The user id the handshake's `auth.token` proves, and the token's
    claims; refuses the socket otherwise, which the client sees as
    `connect_error` with the message."""
    if isinstance(data, guard.Refusal):
        return _refuse(data.message)
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        return _refuse(contract.NO_TOKEN)
    try:
        claims = auth.verified_claims(validation.text("token", token))
        # pymongo blocks; a thread keeps the event loop serving other sockets.
        user = await asyncio.to_thread(auth.user_for_claims, claims)
    except ApiError as error:
        return _refuse(error.body["message"])
    if user is None:
        return _refuse(contract.USER_NOT_FOUND)
    return str(user["_id"]), claims


def _ended(session, data) -> bool:
    """Whether notify.sessions_ended's `data` ends a socket's (session, generation)."""
    if session is None:
        return False
    if data.get("session") is not None:
        return session[0] == data["session"]
    if data.get("generation") is not None:
        return session[1] < data["generation"]
    return True


def _since(data):
    """The handshake's `auth.since` as a time; a socket whose `since` is no
    ISO-8601 time is still accepted, only without catch-up."""
    raw = data.get("since")
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        log.info("socket catch-up skipped: since %.40r is not an ISO-8601 time", raw)
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def _catch_up_if_allowed(server, catch_ups, sid, user_id, since):
    """A socket that reconnects faster than the rate is accepted without
    catch-up: each one reads MongoDB, and the results stay there for
    GET /generate-content."""
    if await catch_ups.allow(user_id):
        await _catch_up(server, [sid], user_id, since)
    else:
        log.info("socket %s: catch-up skipped, user %s is over %d a minute", sid, user_id,
                 catch_ups.per_minute)


async def _catch_up(server, sids, user_id, since):
    """`job_completed` for the user's jobs finished after `since`, read from
    MongoDB (the truth), to the user's sockets `sids` on this process, so a
    socket that was away misses no result whichever notifier process it comes
    back to. Straight to the sockets: Redis may be what was lost."""
    try:
        finished = await asyncio.to_thread(jobs.finished_since, db.object_id(user_id), since,
                                           CATCH_UP_LIMIT)
    except Exception:
        log.exception("sockets %s: catch-up since %s failed", sids, since.isoformat())
        return
    for sid in sids:
        for job in finished:
            await server.emit("job_completed", contract.job_completed(job), to=sid,
                              ignore_queue=True)
        log.info("socket %s: %d finished jobs caught up since %s", sid, len(finished),
                 since.isoformat())


async def _catch_up_everyone(server, users, since):
    """After the relay lost its subscription: every socket here is sent what
    finished since, one user at a time, so connecting sockets still get a
    thread for their own lookups."""
    sids_of = {}
    for sid, user_id in users.items():
        sids_of.setdefault(user_id, []).append(sid)
    for user_id, sids in sids_of.items():
        await _catch_up(server, sids, user_id, since)


def _refuse(reason):
    log.info("socket refused: %s", reason)
    raise ConnectionRefusedError(reason)


def aiohttp_app():
    """The notifier on its own (`python -m notifier`): Socket.IO at
    /socket.io/ and /health for load balancers, on aiohttp, whose sockets
    take a quarter less memory than uvicorn's behind Engine.IO's ASGI
    wrapper. Every NOTIFIER_METRICS_SECONDS it publishes the sockets it
    holds, which its ECS service scales on."""
    app = web.Application(middlewares=[_without_compression])
    server = create_server("aiohttp")
    server.attach(app)
    app.cleanup_ctx.append(lambda app: _publishing_sockets(server))
    app.router.add_get("/health", _health)
    app.router.add_route("*", "/{path:.*}", _not_found)
    return app


def asgi_app(other_asgi_app):
    """Socket.IO at /socket.io/ beside another ASGI app: the local stack
    serves the API on the same port."""
    return socketio.ASGIApp(create_server("asgi"), other_asgi_app=other_asgi_app)


async def _publishing_sockets(server):
    """The sockets published while the app runs: an aiohttp cleanup context."""
    task = asyncio.create_task(_publish_sockets(server))
    yield
    task.cancel()


async def _publish_sockets(server):
    config = settings.get()
    while True:
        try:
            metrics.sockets_held(server.sockets_held(), config.notifier_service_name)
        except Exception:
            log.exception("sockets held not published")
        await asyncio.sleep(config.notifier_metrics_seconds)


@web.middleware
async def _without_compression(request, handler):
    """Declines permessage-deflate, which browsers offer: a compressing
    websocket keeps zlib state (~100 KiB) that outweighs the rest of the
    socket, for Engine.IO packets of a few bytes."""
    if "Sec-WebSocket-Extensions" in request.headers:
        headers = request.headers.copy()
        del headers["Sec-WebSocket-Extensions"]
        request = request.clone(headers=headers)
    return await handler(request)


async def _health(request):
    return web.json_response({"status": "ok"})


async def _not_found(request):
    return web.json_response({"message": contract.NOT_FOUND}, status=404)
