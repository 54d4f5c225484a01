"""300 jobs through the real local stack while it is hurt: a fake AI that
answers in 50-500 ms, with 10 % HTTP 500 and 5 % 429 (Retry-After); the
stack SIGKILLed and restarted twice (its embedded SQS, and every message in
it, dies each time); Redis restarted once; MongoDB stopped for 10 s.

It prints jobs lost (accepted but never finished), jobs stuck (queued or
processing at the end), successful AI calls per completed job, and the
job_completed events the connected clients received (catching up on each
reconnect) against jobs finished.
Target: 0 lost, 0 stuck, exactly 1.00 successful AI call per completed job."""
import random
import signal
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from bench.stage import JWT_SECRET

JOBS = 300
USERS = 3
SUBMIT_SECONDS = 40
SETTLE_SECONDS = 240
SEED = 7
ENV = {
    "STAGE": "local", "LOG_LEVEL": "WARNING", "GENERATION_DELAY_SECONDS": "2",
    "OPENROUTER_TIMEOUT_SECONDS": "5", "CLAIM_LEASE_SECONDS": "10",
    "STALE_JOB_SECONDS": "20", "MAX_ACTIVE_JOBS_PER_USER": "1000",
    "STACK_PARAMETERS": "JobsVisibilityTimeout=10 SweepSchedule='rate(5 seconds)'",
    "MAX_JOBS_PER_DAY": "1000", "REGISTRATIONS_PER_IP_PER_MINUTE": "1000",
    "MAX_JOBS_PER_ADDRESS_PER_DAY": "100000",
    # Every job is read back at the end: none may be trimmed as a user's oldest.
    "MAX_FINISHED_JOBS_PER_USER": str(JOBS),
    "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "1000",
    "JWT_SECRET": JWT_SECRET,
}
# (seconds after the first submit, what happens)
TIMELINE = ((8, "kill the stack"), (16, "restart redis"), (22, "stop mongodb"),
            (32, "start mongodb"), (36, "kill the stack"))


def chaotic_ai():
    """The tests' fake OpenRouter, made unreliable: every answer is late, and
    some are refusals. It records when each successful answer was given."""
    from tests.support.fake_openrouter import FakeOpenRouter

    class ChaoticAI(FakeOpenRouter):
        def __init__(self):
            self.random = random.Random(SEED)
            self.answered = []
            super().__init__()

        def _answer(self, prompt, count):
            wait = self.random.uniform(0.05, 0.5)
            roll = self.random.random()
            if roll < 0.10:
                return 500, {}, {"error": {"message": "Internal error"}}, wait
            if roll < 0.15:
                return 429, {"Retry-After": "1"}, {"error": {"message": "Rate limited"}}, wait
            status, headers, body, _ = super()._answer(prompt, count)
            self.answered.append((prompt, time.time(), time.time() + wait))
            return status, headers, body, wait

    return ChaoticAI()


class Chaos:
    def __init__(self, scratch: Path):
        from devstack import services
        self.services = services
        self.logs = scratch / "logs"
        self.storage = str(scratch / "mongo")
        self.mongo = services.start_mongo(self.storage, self.logs)
        self.redis = services.start_redis(self.logs)
        self.ai = chaotic_ai()
        self.env = {**ENV, "DATA_DIR": str(scratch / "data"), "MONGODB_URI": self.mongo.url,
                    "REDIS_URL": self.redis.url, "OPENROUTER_BASE_URL": self.ai.url,
                    "OPENROUTER_API_KEY": "test-openrouter-key"}
        self.port = services.free_port()
        self.kills = []
        self.stack = None
        self.starts = 0

    def start_stack(self):
        from devstack.services import StackProcess
        self.starts += 1
        self.stack = StackProcess(self.env, self.logs / f"stack-{self.starts}.log",
                                  port=self.port).start()

    def act(self, action):
        if action == "kill the stack":
            self.kills.append(time.time())
            self.stack.stop(signal.SIGKILL)
            self.start_stack()
        elif action == "restart redis":
            self.redis.stop()
            self.redis = self.services.start_redis(self.logs, port=self.redis.port)
        elif action == "stop mongodb":
            self.mongo.stop()
        elif action == "start mongodb":
            self.mongo = self.services.start_mongo(self.storage, self.logs,
                                                   port=self.mongo.port)

    def stop(self):
        if self.stack:
            self.stack.stop()
        self.ai.stop()
        self.mongo.stop()
        self.redis.stop()


def call(method, url, **kwargs):
    """One request, retried while the stack is down or refusing (a restart,
    a database outage), as a patient client would."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = requests.request(method, url, timeout=10, **kwargs)
            if response.status_code < 500:
                return response
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{method} {url} kept failing")
        time.sleep(0.3)


class Listener:
    """One Socket.IO client per user, reconnecting through every restart and
    asking on each reconnect, as the web client does, for the results that
    finished while it was away (`auth.since`)."""

    def __init__(self, url, token):
        import socketio
        self.token = token
        self.received = set()
        self.since = None
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2,
                                      reconnection_delay_max=1)
        self.client.on("job_completed", self._completed)
        self.client.connect(url, auth=self._auth, transports=["websocket"], wait_timeout=10)

    def _auth(self):
        return {"token": self.token, **({"since": self.since} if self.since else {})}

    def _completed(self, event):
        self.received.add(event["jobId"])
        self.since = max(self.since or "", event["completedAt"])


def main():
    with tempfile.TemporaryDirectory() as scratch:
        chaos = Chaos(Path(scratch))
        try:
            chaos.start_stack()
            run(chaos)
        finally:
            chaos.stop()


def run(chaos):
    from chalicelib import db, settings
    settings.use(settings.from_env(chaos.env))
    url = chaos.stack.url
    users = [call("POST", f"{url}/auth/register", json={
        "name": f"Chaos {n}", "email": f"chaos{n}@example.com", "password": "pw"}).json()
        for n in range(USERS)]
    listeners = [Listener(url, user["token"]) for user in users]
    accepted = []

    def submit_all():
        for n in range(JOBS):
            user = users[n % USERS]
            response = call("POST", f"{url}/generate-content",
                            headers={"Authorization": f"Bearer {user['token']}"},
                            json={"prompt": f"Chaos job {n}", "contentType": "Blog Post Outline"})
            if response.status_code == 202:
                accepted.append(response.json()["jobId"])
            time.sleep(SUBMIT_SECONDS / JOBS)

    submitter = threading.Thread(target=submit_all)
    began = time.monotonic()
    submitter.start()
    for at, action in TIMELINE:
        time.sleep(max(0.0, began + at - time.monotonic()))
        print(f"{time.monotonic() - began:5.1f}s  {action}", flush=True)
        chaos.act(action)
    submitter.join()
    jobs = db.get().jobs
    user_ids = [db.object_id(user["_id"]) for user in users]
    deadline = time.monotonic() + SETTLE_SECONDS
    while (jobs.count_documents({"userId": {"$in": user_ids},
                                 "status": {"$in": ["queued", "processing"]}})
           and time.monotonic() < deadline):
        time.sleep(1)
    time.sleep(2)
    report(chaos, accepted, list(jobs.find({"userId": {"$in": user_ids}})), listeners,
           time.monotonic() - began)


def report(chaos, accepted, stored, listeners, seconds):
    by_id = {job["jobId"]: job for job in stored}
    finished = {job_id for job_id, job in by_id.items()
                if job["status"] in ("completed", "failed", "error")}
    lost = [job_id for job_id in accepted if job_id not in finished]
    stuck = [job for job in stored if job["status"] in ("queued", "processing")]
    completed = [job for job in stored if job["status"] == "completed"]
    answers = Counter(prompt for prompt, _, _ in chaos.ai.answered)
    # An answer the stack was killed while waiting for reached no process;
    # the job's next claim has to pay again. Those are counted apart.
    orphaned = Counter(prompt for prompt, asked, answered in chaos.ai.answered
                       if any(asked <= kill <= answered for kill in chaos.kills))
    paid = sum(answers[job["prompt"]] for job in completed)
    orphans = sum(orphaned[job["prompt"]] for job in completed)
    received = set().union(*(listener.received for listener in listeners))
    for listener in listeners:
        listener.client.disconnect()
    statuses = Counter(job["status"] for job in stored)
    print(f"\n{len(accepted)} jobs accepted of {JOBS} submitted, {len(stored)} stored, "
          f"in {seconds:.0f}s; statuses: {dict(statuses)}")
    print(f"jobs lost: {len(lost)}    jobs stuck: {len(stuck)}    (target 0 and 0)")
    count = max(1, len(completed))
    print(f"successful AI calls per completed job: {(paid - orphans) / count:.2f} answered "
          f"to a live worker (target 1.00); {paid / count:.3f} counting the {orphans} "
          f"answers that a SIGKILL of the stack left with no process to receive them")
    print(f"job_completed received by the connected clients (catching up on each "
          f"reconnect): {len(received & finished)} of {len(finished)} finished jobs")


if __name__ == "__main__":
    main()
