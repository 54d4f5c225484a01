"""The notifier under load: the time from a worker-side emit (through Redis)
to the owner's receipt with 1,000 other sockets connected, then how many
sockets one `python -m notifier` process holds and its memory, ramping to
10,000, and the same emit-to-receipt time again beside the 10,000.

The clients speak Engine.IO 4 / Socket.IO 5 over raw websockets, which is
far lighter than a full client per socket."""
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets

from bench import percentile

BYSTANDERS = 1000
EMITS = 200
RAMP = (2500, 5000, 10000)
CONNECT_CONCURRENCY = 100
ROOT = Path(__file__).resolve().parent.parent


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


async def connect_all(url, token, count):
    sockets = [Socket(url, token) for _ in range(count)]
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(socket):
        async with limit:
            await socket.connect()

    await asyncio.gather(*(one(socket) for socket in sockets))
    return sockets


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(url, owner, other, notifier_pid):
    import socketio

    from chalicelib import notify, settings
    received = asyncio.Queue()
    owner_socket = Socket(url, owner["token"],
                          on_event=lambda event: received.put_nowait(time.time()))
    await owner_socket.connect()
    sockets = await connect_all(url, other["token"], BYSTANDERS)
    emitter = socketio.RedisManager(settings.get().redis_url, write_only=True)

    async def emit_to_receipt():
        latencies = []
        for _ in range(EMITS):
            sent = time.time()
            await asyncio.to_thread(emitter.emit, "job_completed", {"jobId": "bench"},
                                    room=notify.room(owner["_id"]))
            latencies.append(await asyncio.wait_for(received.get(), 10) - sent)
            await asyncio.sleep(0.01)
        print(f"emit to receipt with {len(sockets)} other sockets, {EMITS} events: "
              f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms (goal p99 <= 5 ms), "
              f"max {max(latencies) * 1000:.1f} ms", flush=True)

    await emit_to_receipt()
    total = len(sockets) + 1
    print(f"{'sockets':>8}{'notifier RSS':>14}{'per socket':>12}{'connects/s':>12}")
    print(f"{total:>8}{rss_mib(notifier_pid):>11.0f} MiB{'':>12}{'':>12}", flush=True)
    baseline = rss_mib(notifier_pid)
    for target in RAMP:
        started = time.perf_counter()
        sockets += await connect_all(url, other["token"], target - total)
        rate = (target - total) / (time.perf_counter() - started)
        total = target
        rss = rss_mib(notifier_pid)
        per_socket = (rss - baseline) * 1024 / (total - BYSTANDERS - 1)
        print(f"{total:>8}{rss:>11.0f} MiB{per_socket:>9.1f} KiB{rate:>12.0f}", flush=True)
    print("(goal: at most 32 KiB per socket)")
    await emit_to_receipt()
    for socket in sockets + [owner_socket]:
        await socket.ws.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as scratch:
        from devstack import services
        logs = Path(scratch)
        mongo, redis = services.start_mongo(":memory:", logs), services.start_redis(logs)
        port = services.free_port()
        env = {**os.environ, "MONGODB_URI": mongo.url, "REDIS_URL": redis.url,
               "JWT_SECRET": "bench-secret-that-is-long-enough-for-hs256",
               "BCRYPT_ROUNDS": "4", "STAGE": "bench", "LOG_LEVEL": "WARNING",
               "CORS_ORIGIN": "http://localhost:3000",
               "NOTIFIER_PORT": str(port), "HOST": "127.0.0.1",
               # One user and one address hold every socket measured.
               "NOTIFIER_MAX_SOCKETS_PER_USER": "10000",
               "NOTIFIER_MAX_SOCKETS_PER_ADDRESS": "1000000"}
        from chalicelib import settings
        settings.use(settings.from_env(env))
        notifier = subprocess.Popen([sys.executable, "-m", "notifier"], cwd=ROOT, env=env,
                                    stdout=open(logs / "notifier.log", "ab"),
                                    stderr=subprocess.STDOUT)
        try:
            services.wait_until_listening(notifier, port, "the notifier")
            from chalicelib import auth
            owner = auth.register({"name": "Owner", "email": "owner@example.com",
                                   "password": "pw"}, "127.0.0.1")
            other = auth.register({"name": "Other", "email": "other@example.com",
                                   "password": "pw"}, "127.0.0.1")
            url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
            asyncio.run(measure(url, owner, other, notifier.pid))
        finally:
            notifier.terminate()
            notifier.wait()
            mongo.stop()
            redis.stop()


if __name__ == "__main__":
    main()
