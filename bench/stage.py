"""What the benchmarks share: the stage's JWT secret; the notifier's stage
(MongoDB, Redis and one `python -m notifier` process, with this process's
settings the same as the notifier's) and the raw Socket.IO client that
measures it."""
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256"


@contextmanager
def notifier_stage(**env):
    """Yields the notifier's Socket.IO URL and process id; `env` adds to or
    overrides its environment."""
    from chalicelib import settings
    from devstack import services
    # Thousands of sockets, each a file descriptor.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        mongo, redis = services.start_mongo(":memory:", logs), services.start_redis(logs)
        port = services.free_port()
        env = {**os.environ, "MONGODB_URI": mongo.url, "REDIS_URL": redis.url,
               "JWT_SECRET": JWT_SECRET, "BCRYPT_ROUNDS": "4", "STAGE": "bench",
               "LOG_LEVEL": "WARNING", "CORS_ORIGIN": "http://localhost:3000",
               "NOTIFIER_PORT": str(port), "HOST": "127.0.0.1", **env}
        settings.use(settings.from_env(env))
        notifier = subprocess.Popen([sys.executable, "-m", "notifier"], cwd=ROOT, env=env,
                                    stdout=open(logs / "notifier.log", "ab"),
                                    stderr=subprocess.STDOUT)
        try:
            services.wait_until_listening(notifier, port, "the notifier")
            yield f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", notifier.pid
        finally:
            notifier.terminate()
            notifier.wait()
            mongo.stop()
            redis.stop()


def register(count, prefix="user"):
    """`count` users, from one address, as auth.register returns them."""
    from chalicelib import auth
    return [auth.register({"name": f"{prefix} {n}", "email": f"{prefix}{n}@example.com",
                           "password": "pw"}, "127.0.0.1") for n in range(count)]


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Socket:
    """One Socket.IO client: handshake with a token, answer pings, hand
    events to `on_event`."""

    def __init__(self, url, token, on_event=None):
        self.url, self.token, self.on_event = url, token, on_event
        self.task = None

    async def connect(self):
        self.ws = await websockets.connect(self.url, compression=None, max_queue=4,
                                           ping_interval=None, open_timeout=60)
        await self.ws.recv()
        await self.ws.send("40" + json.dumps({"token": self.token}))
        answer = await self.ws.recv()
        if not answer.startswith("40"):
            raise RuntimeError(f"refused: {answer}")
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for message in self.ws:
                if message == "2":
                    await self.ws.send("3")
                elif message.startswith("42") and self.on_event:
                    self.on_event(json.loads(message[2:]))
        except websockets.ConnectionClosed:
            pass
