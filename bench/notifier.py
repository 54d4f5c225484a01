"""The notifier under load: the time from a worker-side emit (through Redis)
to the owner's receipt with 1,000 other sockets connected, then how many
sockets one `python -m notifier` process holds and its memory, ramping to
10,000, and the same emit-to-receipt time again beside the 10,000.

The clients speak Engine.IO 4 / Socket.IO 5 over raw websockets, which is
far lighter than a full client per socket."""
import asyncio
import time

from bench import percentile
from bench.stage import Socket, notifier_stage, register, rss_mib

BYSTANDERS = 1000
EMITS = 200
RAMP = (2500, 5000, 10000)
CONNECT_CONCURRENCY = 100


async def connect_all(url, token, count):
    sockets = [Socket(url, token) for _ in range(count)]
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(socket):
        async with limit:
            await socket.connect()

    await asyncio.gather(*(one(socket) for socket in sockets))
    return sockets


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
    # One user and one address hold every socket measured.
    with notifier_stage(NOTIFIER_MAX_SOCKETS_PER_USER="10000",
                        NOTIFIER_MAX_SOCKETS_PER_ADDRESS="1000000") as (url, notifier_pid):
        owner, other = register(2)
        asyncio.run(measure(url, owner, other, notifier_pid))


if __name__ == "__main__":
    main()
