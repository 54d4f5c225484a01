"""Streamed generation under load, through one `python -m notifier` process:
the time from the fake AI's first chunk to the first `job_progress` at the
owner's socket, and how many `job_progress` events per second the notifier
relays with 100 jobs streaming at once to 100 users, throttled as the worker
throttles them and unthrottled (the notifier's ceiling).

Each job runs the worker's streaming path: `openrouter.stream` reading the
fake's server-sent events, with `notify.Progress.update` as its callback."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench import percentile
from bench.stage import Socket, notifier_stage, register, rss_mib

LATENCY_RUNS = 100
USERS = 100
WORDS = 200
CHUNK_PAUSE_SECONDS = 0.02


def fake_ai():
    from tests.support.fake_openrouter import FakeOpenRouter, Script

    class StreamingAI(FakeOpenRouter):
        """A latency job streams 20 quick chunks; a load job WORDS chunks,
        CHUNK_PAUSE_SECONDS apart."""

        def _answer(self, prompt, count):
            if prompt.startswith("latency"):
                return 200, {}, Script(" ".join(["word"] * 20), pause=0.005), 0
            return 200, {}, Script(" ".join(["word"] * WORDS), pause=CHUNK_PAUSE_SECONDS), 0

    return StreamingAI()


def run_stream(fake, user_id, job_id, interval):
    from chalicelib import notify, openrouter

    progress = notify.Progress(job_id, user_id, interval=interval)
    openrouter.stream(job_id, "Social Media Caption", time.monotonic() + 60,
                      on_text=progress.update)
    progress.finish()
    return fake.calls_for(job_id)[0]["first_chunk_at"]


async def latency(url, user, fake):
    from chalicelib import notify
    first = {}

    def on_event(message):
        name, data = message[0], message[1]
        if name == "job_progress":
            first.setdefault(data["jobId"], time.time())

    socket = Socket(url, user["token"], on_event=on_event)
    await socket.connect()
    delays = []
    for run in range(LATENCY_RUNS):
        job_id = f"latency-{run}"
        chunk_at = await asyncio.to_thread(run_stream, fake, user["_id"], job_id,
                                           notify.PROGRESS_INTERVAL_SECONDS)
        while job_id not in first:
            await asyncio.sleep(0.001)
        delays.append(first[job_id] - chunk_at)
    await socket.ws.close()
    print(f"first chunk to first job_progress, {LATENCY_RUNS} jobs: "
          f"p50 {percentile(delays, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(delays, 0.99) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms",
          flush=True)


async def throughput(url, users, fake, interval, label, notifier_pid):
    arrivals = []
    sockets = [Socket(url, user["token"],
                      on_event=lambda message: message[0] == "job_progress"
                      and arrivals.append(time.time()))
               for user in users]
    await asyncio.gather(*(socket.connect() for socket in sockets))
    started = time.time()
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        await asyncio.gather(*(
            loop.run_in_executor(pool, run_stream, fake, user["_id"], f"{label}-{n}", interval)
            for n, user in enumerate(users)))
    emitted_by = time.time()
    previous = -1
    while len(arrivals) != previous:
        previous = len(arrivals)
        await asyncio.sleep(1.0)
    for socket in sockets:
        await socket.ws.close()
    seconds = max(arrivals) - started
    print(f"{label:>12}{len(users):>6}{len(arrivals):>9}{emitted_by - started:>10.1f}s"
          f"{seconds:>10.1f}s{len(arrivals) / seconds:>10.0f}{rss_mib(notifier_pid):>8.0f} MiB",
          flush=True)


async def measure(url, users, fake, notifier_pid):
    from chalicelib import notify
    await latency(url, users[0], fake)
    print(f"{USERS} jobs at once, {WORDS} chunks each {CHUNK_PAUSE_SECONDS * 1000:.0f} ms "
          f"apart, one socket per user:")
    print(f"{'progress':>12}{'jobs':>6}{'events':>9}{'emitting':>11}{'relaying':>11}"
          f"{'events/s':>10}{'RSS':>12}")
    await throughput(url, users, fake, notify.PROGRESS_INTERVAL_SECONDS, "throttled",
                     notifier_pid)
    await throughput(url, users, fake, 0, "unthrottled", notifier_pid)


def main():
    from tests.support.fake_openrouter import API_KEY
    fake = fake_ai()
    try:
        # One address registers every user of the benchmark and holds their sockets.
        with notifier_stage(OPENROUTER_API_KEY=API_KEY, OPENROUTER_BASE_URL=fake.url,
                            REGISTRATIONS_PER_IP_PER_MINUTE=str(USERS),
                            NOTIFIER_MAX_SOCKETS_PER_ADDRESS=str(USERS + 1)) as (url, notifier_pid):
            asyncio.run(measure(url, register(USERS), fake, notifier_pid))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
