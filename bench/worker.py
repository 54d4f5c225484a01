"""500 jobs due at the same moment, a fake AI answering in 50 ms: throughput
of the local worker (pollers feeding the Lambda handler), how late each job
starts after its scheduledFor, and AI calls per job; then the database
round trips of one job through the handler, counted by a command listener."""
import dataclasses
import json
import os
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from pymongo import monitoring

from bench import CommandCounter, percentile

JOBS = 500
LEAD_SECONDS = 3
CONCURRENCY = (4, 8, 16)


def main():
    with tempfile.TemporaryDirectory() as scratch:
        from devstack import services
        from tests.fake_openrouter import API_KEY, FakeOpenRouter
        logs = Path(scratch)
        started = [services.start_mongo(":memory:", logs), services.start_redis(logs),
                   services.start_sqs(logs)]
        fake = FakeOpenRouter(delay=0.05)
        from chalicelib import settings
        env = {**os.environ, "MONGODB_URI": started[0].url, "REDIS_URL": started[1].url,
               "SQS_ENDPOINT_URL": started[2].url, "OPENROUTER_BASE_URL": fake.url,
               "OPENROUTER_API_KEY": API_KEY, "JWT_SECRET": "bench-secret-that-is-long-enough!!",
               "STAGE": "bench", "CORS_ORIGIN": "http://localhost:3000", "LOG_LEVEL": "WARNING"}
        # moto accepts any credentials; boto3 reads them from the environment.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        try:
            print(f"{'pollers':>8}{'jobs/s':>9}{'late p50':>10}{'late p99':>10}{'late max':>10}"
                  f"{'<=1.5s':>8}{'AI calls/job':>14}")
            for concurrency in CONCURRENCY:
                fake.calls.clear()
                run({**env, "STACK_PARAMETERS": f"WorkerMaxConcurrency={concurrency}"},
                    concurrency, fake)
            print(f"database round trips per job: {round_trips(settings.from_env(env))}")
        finally:
            fake.stop()
            for service in started:
                service.stop()


def run(env, concurrency, fake):
    from chalicelib import clock, db, queue, settings
    from devstack.poller import Poller
    from devstack.stack import ensure_queues, local_topology

    topology = local_topology(env)
    settings.use(settings.from_env(
        {**env, **topology.environment("APIHandler", ["JOBS_QUEUE_NAME"])}))
    ensure_queues(topology)
    jobs = db.get().jobs
    due = clock.now() + timedelta(seconds=LEAD_SECONDS)
    batch = f"bench-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(JOBS)]
    jobs.insert_many([{"jobId": job_id, "userId": batch, "prompt": f"{batch} {index}",
                       "contentType": "Social Media Caption", "status": "queued",
                       "scheduledFor": due, "createdAt": due, "updatedAt": due, "__v": 0}
                      for index, job_id in enumerate(ids)])
    sqs, url = queue.client(), queue.jobs_url()
    for start in range(0, JOBS, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"jobId": job_id}),
             "DelaySeconds": LEAD_SECONDS}
            for n, job_id in enumerate(ids[start:start + 10])])
    poller = Poller.for_app(topology)
    poller.start()
    try:
        while jobs.count_documents({"userId": batch, "status": "completed"}) < JOBS:
            time.sleep(0.2)
    finally:
        poller.stop()
    done = list(jobs.find({"userId": batch}, {"claimedAt": 1, "completedAt": 1}))
    late = [(job["claimedAt"] - due).total_seconds() for job in done]
    finished = max(job["completedAt"] for job in done)
    rate = JOBS / (finished - due).total_seconds()
    within = sum(1 for seconds in late if seconds <= 1.5)
    calls = len(fake.calls) / JOBS
    print(f"{concurrency:>8}{rate:>9.0f}{percentile(late, 0.5):>9.2f}s"
          f"{percentile(late, 0.99):>9.2f}s{max(late):>9.2f}s{within:>5}/{JOBS}"
          f"{calls:>14.2f}", flush=True)


def round_trips(base):
    """One due job through worker.generate, on a database of its own so that
    its client is built after the listener is registered; a first job warms
    the indexes up."""
    from chalicelib import clock, lifecycle, settings, worker

    counter = CommandCounter()
    monitoring.register(counter)
    settings.use(dataclasses.replace(base, mongodb_db=f"round_trips_{uuid.uuid4().hex[:8]}"))
    for _ in range(2):
        counter.names.clear()
        moment = clock.now()
        job_id = lifecycle.create({
            "jobId": str(uuid.uuid4()), "userId": "bench", "prompt": "One job",
            "contentType": "Social Media Caption", "scheduledFor": moment,
            "createdAt": moment, "updatedAt": moment, "__v": 0})["jobId"]
        counter.names.clear()
        worker.generate({"messageId": "bench", "body": json.dumps({"jobId": job_id})},
                        time.monotonic() + 30)
    return f"{len(counter.names)} ({', '.join(counter.names)})"


if __name__ == "__main__":
    main()
