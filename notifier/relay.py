"""The notifier's subscription to what the workers emit through Redis. It is
python-socketio's Redis manager with its own listening loop (the extension
point python-socketio documents for message queues), because the server has
to know when a lost subscription comes back: whatever was published
meanwhile never reached this process, and its sockets are owed it."""
import asyncio
import logging
import time

import socketio
from redis import asyncio as aioredis

from chalicelib import notify

log = logging.getLogger("notifier.relay")

# python-socketio's own loop backs off to a minute; a notifier whose sockets
# are waiting for results comes back sooner.
MAX_RETRY_SECONDS = 8


class Relay(socketio.AsyncRedisManager):
    def __init__(self, url, on_restored, on_sessions_ended, redis_options=None):
        """`on_restored(lost_at)`: called once the subscription is back after
        a loss, with the time.time() at which it was lost.
        `on_sessions_ended(data)`: awaited for notify.sessions_ended's
        control message, which no socket is sent."""
        super().__init__(url, logger=log, redis_options=redis_options)
        self.on_restored = on_restored
        self.on_sessions_ended = on_sessions_ended

    async def _handle_emit(self, message):
        if message.get("event") == notify.SESSIONS_ENDED:
            # The emitter sends an event's arguments as a list.
            arguments = message.get("data")
            data = arguments[0] if isinstance(arguments, list) and arguments else arguments
            await self.on_sessions_ended(data if isinstance(data, dict) else {})
        else:
            await super()._handle_emit(message)

    async def _listen(self):
        lost_at, retry_in = None, 1
        while True:
            client = aioredis.Redis.from_url(self.redis_url, **self.redis_options)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                if asyncio.current_task().cancelling():
                    # redis-py swallows a cancel that comes while it connects,
                    # and the server's shutdown would wait on this forever.
                    raise asyncio.CancelledError
                if lost_at is not None:
                    log.info("subscription to redis restored after %.1f s",
                             time.time() - lost_at)
                    self.on_restored(lost_at)
                lost_at, retry_in = None, 1
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        yield message["data"]
            except Exception as error:
                lost_at = lost_at or time.time()
                log.error("subscription to redis lost (%s); retrying in %d s", error, retry_in)
                await asyncio.sleep(retry_in)
                retry_in = min(retry_in * 2, MAX_RETRY_SECONDS)
            finally:
                await client.aclose()
