"""What holds the notifier's sockets in bounds: sessions that never join the
namespace are closed, sockets are capped per user and per client address,
catch-up on connect is rate-limited per user, and packets are read by the
API's rules for JSON bodies.

The socket caps count per process. What a flood of sockets exhausts is one
process's memory and file descriptors, and a count kept beside the sockets
is exact, costs no round trip and can never outlive them: a process that
dies takes its sockets and its counts with it, where counts in Redis would
need leases to undo a dead process's share, and it keeps working through a
Redis outage. Behind the load balancer a user can hold at most the cap on
each task, so the service-wide bound is the cap times the most tasks the
service scales to. Catch-up reads MongoDB, whichever process a socket
reaches, so its rate is counted in Redis, where one transaction holds it for
every process."""
import asyncio
import json
import logging
import time
import uuid
from collections import Counter

import socketio
from redis import asyncio as aioredis
from socketio import packet

from chalicelib import contract, validation
from chalicelib.errors import ApiError

log = logging.getLogger("notifier")

CATCH_UP_WINDOW_SECONDS = 60


class HeldServer(socketio.AsyncServer):
    """An AsyncServer that closes an Engine.IO session which has not
    connected to the namespace (sent Socket.IO's CONNECT, or been accepted)
    within `connect_timeout` seconds: without this a session that only
    answers pings would be held forever, unauthenticated."""

    def __init__(self, connect_timeout, **options):
        super().__init__(**options)
        self.connect_timeout = connect_timeout

    def sockets_held(self) -> int:
        """Engine.IO sessions open here, connected to the namespace or not
        yet: each holds its share of the process's memory."""
        return len(self.eio.sockets)

    async def _handle_eio_connect(self, eio_sid, environ):
        await super()._handle_eio_connect(eio_sid, environ)
        asyncio.get_running_loop().call_later(
            self.connect_timeout, lambda: asyncio.ensure_future(self._close_if_idle(eio_sid)))

    async def _close_if_idle(self, eio_sid):
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or self.manager.sid_from_eio_sid(eio_sid, "/") is not None:
            return
        log.info("session %s closed: no namespace connect within %d s", eio_sid,
                 self.connect_timeout)
        # Engine.IO's own disconnect waits for the client to fetch the close
        # packet, which an idle client never does; and it leaves a websocket
        # open until its writer is handed the end of the queue.
        await socket.close(wait=False)
        await socket.queue.put(None)


class Tally:
    """How many sockets each key (a user, an address) holds here, up to a
    limit."""

    def __init__(self, limit):
        self.limit = limit
        self.counts = Counter()

    def take(self, key) -> bool:
        if self.counts[key] >= self.limit:
            return False
        self.counts[key] += 1
        return True

    def release(self, key):
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            del self.counts[key]


def client_address(environ, trusted_proxies):
    """The address a socket comes from: the peer's, or behind
    `trusted_proxies` proxies that each append the address they were reached
    from to X-Forwarded-For (the load balancer in AWS), the entry the
    outermost of them appended. Entries before it are whatever the client
    wrote, so they are never read."""
    peer = _peer(environ)
    if not trusted_proxies:
        return peer
    hops = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < trusted_proxies or not hops[-trusted_proxies]:
        return peer
    return hops[-trusted_proxies]


def _peer(environ):
    # Engine.IO's drivers name every peer 127.0.0.1; the server's own
    # request object knows the real one.
    request = environ.get("aiohttp.request")
    if request is not None:
        return request.remote
    client = environ.get("asgi.scope", {}).get("client")
    return client[0] if client else environ.get("REMOTE_ADDR")


class CatchUpRate:
    """Catch-ups per user in any rolling minute, counted in Redis for every
    notifier process: one sorted set per user, of the times it was asked.
    Redis down, catch-up is allowed: it is the moment a socket most needs
    what it missed."""

    def __init__(self, url, per_minute, redis_options=None):
        self.per_minute = per_minute
        self.redis = aioredis.Redis.from_url(url, **(redis_options or {}))

    async def allow(self, user_id) -> bool:
        key, now = f"notifier:catch-ups:{user_id}", time.time()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, 0, now - CATCH_UP_WINDOW_SECONDS)
                pipe.zadd(key, {f"{now}:{uuid.uuid4().hex}": now})
                pipe.zcard(key)
                pipe.expire(key, CATCH_UP_WINDOW_SECONDS)
                _, _, count, _ = await pipe.execute()
        except Exception as error:
            log.warning("catch-up rate of user %s not counted (%s); allowed", user_id, error)
            return True
        return count <= self.per_minute


class _BoundedJson:
    """The json module python-socketio reads packets with, by the rules of
    the API's bodies (chalicelib.validation.parse_json)."""
    dumps = staticmethod(json.dumps)
    loads = staticmethod(validation.parse_json)


class Refusal:
    """The `auth` of a handshake whose JSON broke those rules: the connect
    handler refuses it with `message`, as connect_error."""

    def __init__(self, message):
        self.message = message


class HandshakePacket(packet.Packet):
    """A Socket.IO packet read by the bounded parser. The stock one lets a
    deeply nested auth raise RecursionError out of the packet, which ends
    in a logged traceback and a client left without an answer; here a
    CONNECT whose auth is refused still reaches the connect handler."""
    json = _BoundedJson

    def decode(self, encoded_packet):
        try:
            return super().decode(encoded_packet)
        except ApiError as error:
            if self.packet_type != packet.CONNECT:
                raise ValueError(error.body["message"]) from None
            log.info("handshake auth refused: %s", error.body["message"])
            self.data = Refusal(contract.MALFORMED_AUTH)
            return 0
