"""500 jobs due at the same moment, a fake AI answering in 50 ms: throughput
of the local worker (pollers feeding the Lambda handler), how late each job
starts after its scheduledFor, and AI calls per job, against moto's SQS and
LocalStack's side by side; then which part bounds it, and the database round
trips of a batch of jobs through the handler, counted by a command listener,
for new users and for users whose every finish trims one job."""
import dataclasses
import json
import os
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from pymongo import monitoring

from bench import CommandCounter, percentile
from bench.stage import JWT_SECRET
from chalicelib import settings

JOBS = 500
KEPT_PER_USER = settings.NUMBERS["MAX_FINISHED_JOBS_PER_USER"][0]
LEAD_SECONDS = 3
CONCURRENCY = (4, 8, 16)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def main():
    with tempfile.TemporaryDirectory() as scratch:
        from devstack import services
        from tests.support.fake_openrouter import API_KEY, FakeOpenRouter
        logs = Path(scratch)
        started = [services.start_mongo(":memory:", logs), services.start_redis(logs)]
        fake = FakeOpenRouter(delay=0.05)
        env = {**os.environ, "MONGODB_URI": started[0].url, "REDIS_URL": started[1].url,
               "OPENROUTER_BASE_URL": fake.url,
               "OPENROUTER_API_KEY": API_KEY, "JWT_SECRET": JWT_SECRET,
               "STAGE": "bench", "CORS_ORIGIN": "http://localhost:3000", "LOG_LEVEL": "WARNING"}
        # moto and LocalStack accept any credentials; boto3 reads them from the environment.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        try:
            queues = {"moto": services.start_sqs(logs)}
            started.append(queues["moto"])
            localstack_sqs = start_localstack(logs)
            if localstack_sqs:
                queues["localstack"] = localstack_sqs
                started.append(localstack_sqs)
            print(f"{'pollers':>8} {'queue':<11}{'jobs/s':>7}{'late p50':>10}{'late p99':>10}"
                  f"{'late max':>10}{'<=1.5s':>9}{'AI calls/job':>14}")
            for concurrency in CONCURRENCY:
                for name, sqs in queues.items():
                    fake.calls.clear()
                    run({**env, "SQS_ENDPOINT_URL": sqs.url,
                         "STACK_PARAMETERS": f"WorkerMaxConcurrency={concurrency}"},
                        name, concurrency, fake, Servers(sqs, started[0]))
            print(f"database round trips per job: {round_trips(settings.from_env(env))}")
        finally:
            fake.stop()
            for service in reversed(started):
                service.stop()


def start_localstack(logs):
    """LocalStack's SQS, or None (saying why) when it cannot be installed or started here."""
    from bench import localstack
    try:
        return localstack.start(logs)
    except Exception as error:
        print(f"LocalStack's SQS is left out: {error}", flush=True)
        return None


def run(env, name, concurrency, fake, servers):
    from chalicelib import clock, db, queue
    from devstack.aws.poller import RECEIVE_TIMEOUT_SECONDS, Poller
    from devstack.stack import ensure_queues, local_topology

    topology = local_topology(env)
    # A database of its own, so that every run starts beside the same number of jobs.
    settings.use(dataclasses.replace(settings.from_env(
        {**env, **topology.environment("APIHandler", ["JOBS_QUEUE_NAME"])}),
        mongodb_db=f"worker_{name}_{concurrency}"))
    ensure_queues(topology)
    jobs = db.get().jobs
    batch = f"bench-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(JOBS)]
    sqs, url = queue.client(), queue.jobs_url()
    # The messages first and the jobs after (well within the messages' delay),
    # so that the time the inserts take does not count as lateness.
    due = clock.now() + timedelta(seconds=LEAD_SECONDS)
    for start in range(0, JOBS, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"jobId": job_id}),
             "DelaySeconds": LEAD_SECONDS}
            for n, job_id in enumerate(ids[start:start + 10])])
    # The last message should be visible this long after the jobs are due.
    floor = (clock.now() + timedelta(seconds=LEAD_SECONDS) - due).total_seconds()
    # As many users as keep every job when each holds the most finished
    # jobs kept, so no finish trims one the benchmark reads back, and each
    # finish's trim reads what a full user's does.
    users = [f"{batch}-{n}" for n in range(JOBS // KEPT_PER_USER)]
    jobs.insert_many([{"jobId": job_id, "userId": users[index % len(users)],
                       "prompt": f"{batch} {index}",
                       "contentType": "Social Media Caption", "status": "queued",
                       "scheduledFor": due, "createdAt": due, "updatedAt": due, "__v": 0}
                      for index, job_id in enumerate(ids)])
    calls = SqsTimer(queue.client(read_timeout=RECEIVE_TIMEOUT_SECONDS), sqs)
    poller = Poller.for_app(topology)
    cpu = servers.cpu_seconds()
    poller.start()
    try:
        while jobs.count_documents({"userId": {"$in": users}, "status": "completed"}) < JOBS:
            time.sleep(0.2)
    finally:
        poller.stop()
        calls.stop()
    cpu = {part: (seconds - cpu[part]) / JOBS for part, seconds in servers.cpu_seconds().items()}
    done = list(jobs.find({"userId": {"$in": users}}, {"claimedAt": 1, "completedAt": 1}))
    late = [(job["claimedAt"] - due).total_seconds() for job in done]
    finished = max(job["completedAt"] for job in done)
    rate = JOBS / (finished - due).total_seconds()
    within = sum(1 for seconds in late if seconds <= 1.5)
    print(f"{concurrency:>8} {name:<11}{rate:>7.0f}{percentile(late, 0.5):>9.2f}s"
          f"{percentile(late, 0.99):>9.2f}s{max(late):>9.2f}s{within:>6}/{JOBS}"
          f"{len(fake.calls) / JOBS:>14.2f}", flush=True)
    bound = max(cpu, key=cpu.get)
    print(f"{'':>9}bounded by: {bound} (CPU per job: "
          + ", ".join(f"{part} {seconds * 1000:.1f} ms" for part, seconds in cpu.items())
          + f"; at most {1 / cpu[bound]:.0f} jobs/s on a core of its own); {calls.summary()}; "
          f"messages sent to be visible by +{floor:.2f}s, the first received at "
          f"+{calls.first_delivery - due.timestamp():.2f}s", flush=True)


class Servers:
    """CPU seconds used by each part: the queue's server, the database's
    server and this process (the pollers, the handler and the fake AI).
    Each is one Python interpreter, so 100 % of one core is its ceiling."""

    def __init__(self, queue, database):
        self.pids = {"queue": queue.process.pid, "database": database.process.pid}

    def cpu_seconds(self):
        own = os.times()
        return {**{part: _cpu_seconds(pid) for part, pid in self.pids.items()},
                "worker": own.user + own.system}


def _cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class SqsTimer:
    """The duration of each SQS call the clients make, by operation, from
    botocore's events, the time each poller spends between a receive that
    returned messages and its delete (the handler's), and when the queue
    first delivered a message."""

    def __init__(self, *clients):
        self.clients = clients
        self.seconds = defaultdict(list)
        self.received_at = {}
        self.first_delivery = None
        for client in clients:
            client.meta.events.register("before-call.sqs", self._before)
            client.meta.events.register("after-call.sqs", self._after)

    def stop(self):
        for client in self.clients:
            client.meta.events.unregister("before-call.sqs", self._before)
            client.meta.events.unregister("after-call.sqs", self._after)

    def _before(self, model, context, **_):
        context["bench_started"] = now = time.perf_counter()
        received_at = self.received_at.pop(threading.get_ident(), None)
        if model.name == "DeleteMessageBatch" and received_at is not None:
            self.seconds["handler"].append(now - received_at)

    def _after(self, model, parsed, context, **_):
        name, now = model.name, time.perf_counter()
        if name == "ReceiveMessage" and parsed.get("Messages"):
            self.received_at[threading.get_ident()] = now
            self.first_delivery = self.first_delivery or time.time()
            name = "receive"
        self.seconds[name].append(now - context["bench_started"])

    def summary(self):
        return ", ".join(f"{len(self.seconds.get(name, []))} {label} p50 "
                         f"{_median(self.seconds.get(name, [])) * 1000:.0f} ms"
                         for name, label in (("receive", "receives"), ("handler", "handlers"),
                                             ("DeleteMessageBatch", "batch deletes")))


def _median(values):
    return percentile(values, 0.5) if values else 0.0


def round_trips(base, batch=10):
    """A batch of due jobs through the jobs queue's handler, on a database of
    its own so that its client is built after the listener is registered; a
    first batch warms the indexes up. The jobs are as a submit stores them
    (a cost reservation to settle, the fake AI reporting a cost), each of its
    own user, whose finished jobs are none yet ("new users") or already the
    count kept, so that each finish trims one ("users at the count kept")."""
    import app
    from chalice.local import LambdaContext

    from chalicelib import clock, db, lifecycle, retention, spend

    counter = CommandCounter()
    monitoring.register(counter)
    settings.use(dataclasses.replace(base, mongodb_db=f"round_trips_{uuid.uuid4().hex[:8]}"))
    figures = []
    for label, finished in (("warm-up", 0), ("new users", 0),
                            ("users at the count kept", KEPT_PER_USER)):
        moment = clock.now()
        users = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(batch)]
        done = moment - timedelta(minutes=1)
        if finished:
            db.get().jobs.insert_many([{
                "jobId": str(uuid.uuid4()), "userId": user, "prompt": "Done",
                "contentType": "Social Media Caption", "status": "completed",
                "generatedContent": "Text", "scheduledFor": done, "createdAt": done,
                "updatedAt": done, "completedAt": done, "expiresAt": retention.expires(done),
                "__v": 0} for user in users for _ in range(finished)])
        records = [{"messageId": f"bench-{n}", "body": json.dumps({"jobId": lifecycle.create({
            "jobId": str(uuid.uuid4()), "userId": user, "prompt": f"Job {n}",
            "contentType": "Social Media Caption", "scheduledFor": moment,
            "spend": spend.reserve(user, "127.0.0.1", moment, 1, 0.0),
            "createdAt": moment, "updatedAt": moment, "__v": 0})["jobId"]})}
            for n, user in enumerate(users)]
        counter.names.clear()
        app.process_jobs({"Records": records}, LambdaContext("worker", 256, 30_000))
        names = Counter(counter.names)
        figures.append(f"{len(counter.names) / batch:.1f} for {label} "
                       f"({', '.join(f'{count} {name}' for name, count in names.items())})")
    return f"in a batch of {batch}, " + "; ".join(figures[1:])


if __name__ == "__main__":
    main()
