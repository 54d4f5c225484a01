"""A flood against the real local stack: can one attacker spend the
service's money, or keep a real user's jobs out?

Phase 1: one address (127.0.0.2) registers 50 fresh accounts and has each
submit jobs as fast as 16 connections go, while a legitimate user at another
address (127.0.0.3) submits its own jobs now and then. Phase 2: the same
attacker spread over ten more addresses (127.0.0.10-19), 5 fresh accounts
each, until the whole service's daily cap is reached; the legitimate user
tries once more.

Printed, not asserted: jobs accepted against the per-address and the
service-wide caps, AI calls counted at the fake OpenRouter against jobs
accepted, how every other submit was answered (429 with Retry-After, by
limit), and the legitimate user's acceptance, submit latency and time to
its job's completion. The caps are the bench's own (printed), far below the
defaults, so that the run is short; the checks are the same."""
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import percentile
from bench.stage import JWT_SECRET
from devstack.services import StackProcess

ADDRESS_CAP = 150
SERVICE_CAP = 400
ACCOUNTS = 50
TRIES_PER_ACCOUNT = 20
CONNECTIONS = 16
SPREAD_ADDRESSES = [f"127.0.0.{n}" for n in range(10, 20)]
SPREAD_ACCOUNTS = 5
LEGITIMATE_JOBS = 5
ATTACKER, LEGITIMATE = "127.0.0.2", "127.0.0.3"
ENV = {"STAGE": "local", "LOG_LEVEL": "WARNING", "MONGODB_URI": "", "REDIS_URL": "",
       "SQS_ENDPOINT_URL": "", "JWT_SECRET": JWT_SECRET, "BCRYPT_ROUNDS": "4",
       "GENERATION_DELAY_SECONDS": "0", "OPENROUTER_API_KEY": "test-openrouter-key",
       "MAX_JOBS_PER_ADDRESS_PER_DAY": str(ADDRESS_CAP),
       "MAX_SERVICE_JOBS_PER_DAY": str(SERVICE_CAP),
       # The registration cap (30 a minute per address) is a defence of its
       # own; raised so that 50 accounts open within the run.
       "REGISTRATIONS_PER_IP_PER_MINUTE": "1000"}


def main():
    from tests.support.fake_openrouter import FakeOpenRouter

    # Each call takes 50 ms, so the flood's jobs queue up in front of the
    # legitimate user's as they would in front of a real model.
    ai = FakeOpenRouter(delay=0.05)
    with tempfile.TemporaryDirectory() as scratch:
        stack = StackProcess({**ENV, "DATA_DIR": scratch, "OPENROUTER_BASE_URL": ai.url},
                             Path(scratch) / "stack.log")
        try:
            stack.start()
            run(stack, ai)
        finally:
            stack.stop()
            ai.stop()


def run(stack, ai):
    print(f"caps: {ADDRESS_CAP} jobs per address a day, {SERVICE_CAP} for the service; "
          "per user 5 active and 100 a day (the defaults)")
    legitimate = register(stack, LEGITIMATE, "legitimate")
    alone = legitimate_user(stack, legitimate, None)
    report_legitimate("alone, before the flood", alone)
    flood = Flood(stack)
    accounts = [register(stack, ATTACKER, f"flood-{n}") for n in range(ACCOUNTS)]
    user_jobs = []
    stop = threading.Event()
    legitimate_thread = threading.Thread(
        target=lambda: user_jobs.extend(legitimate_user(stack, legitimate, stop)))
    legitimate_thread.start()
    started = time.monotonic()
    flood.run([(ATTACKER, account) for account in accounts for _ in range(TRIES_PER_ACCOUNT)])
    phase_one = time.monotonic() - started
    stop.set()
    legitimate_thread.join()
    report_flood("phase 1: one address, 50 accounts", flood, phase_one)
    report_legitimate("during phase 1", user_jobs)

    spread = Flood(stack)
    spread_accounts = [(address, register(stack, address, f"spread-{address}-{n}"))
                       for address in SPREAD_ADDRESSES for n in range(SPREAD_ACCOUNTS)]
    started = time.monotonic()
    spread.run([pair for pair in spread_accounts for _ in range(TRIES_PER_ACCOUNT)])
    report_flood(f"phase 2: {len(SPREAD_ADDRESSES)} more addresses, "
                 f"{len(spread_accounts)} accounts", spread, time.monotonic() - started)
    late = legitimate_user(stack, legitimate, None, jobs=1)
    print(f"legitimate user after phase 2: {late[0]['status']} {late[0]['message']!r}")
    accepted = flood.accepted() + spread.accepted() + sum(
        job["status"] == 202 for job in [*alone, *user_jobs, *late])
    calls = wait_for_calls(ai, accepted)
    print(f"jobs accepted in all: {accepted} (the service's cap: {SERVICE_CAP}); "
          f"AI calls at the fake OpenRouter: {calls}")


class Flood:
    """Submits from chosen addresses on CONNECTIONS threads, every answer kept."""

    def __init__(self, stack):
        self.stack = stack
        self.answers = []
        self.lock = threading.Lock()

    def run(self, submits):
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            list(pool.map(lambda pair: self._submit(*pair), submits))

    def accepted(self):
        return sum(status == 202 for status, _, _ in self.answers)

    def _submit(self, address, account):
        answer = submit(self.stack, address, account, "Flood")
        with self.lock:
            self.answers.append(answer)


def submit(stack, address, account, prompt):
    from tests.support.addresses import request_from
    return request_from(stack.port, address, "POST", "/generate-content",
                        {"prompt": f"{prompt} {time.monotonic_ns()}",
                         "contentType": "Social Media Caption"}, token=account["token"])


def register(stack, address, name):
    from tests.support.addresses import request_from
    status, body, _ = request_from(stack.port, address, "POST", "/auth/register", {
        "name": name, "email": f"{name}-{time.monotonic_ns()}@example.com",
        "password": "password123"})
    if status != 201:
        raise RuntimeError(f"registration from {address}: {status} {body}")
    return body


def legitimate_user(stack, user, stop, jobs=LEGITIMATE_JOBS):
    """Its jobs, one at a time, a little apart (or until `stop`): each with
    its answer, how long the submit took and how long until it completed."""
    from tests.support.addresses import request_from
    done = []
    for _ in range(jobs):
        started = time.monotonic()
        status, body, _ = submit(stack, LEGITIMATE, user, "Legitimate")
        answered = time.monotonic()
        job = {"status": status, "message": body.get("message"),
               "submit": answered - started, "completion": None}
        while status == 202 and time.monotonic() - started < 60:
            state = request_from(stack.port, LEGITIMATE, "GET",
                                 f"/generate-content/{body['jobId']}", token=user["token"])[1]
            if state["status"] not in ("queued", "processing"):
                job["completion"] = time.monotonic() - started
                job["final"] = state["status"]
                break
            time.sleep(0.05)
        done.append(job)
        if stop is not None and stop.wait(0.2):
            break
    return done


def report_flood(label, flood, seconds):
    statuses = Counter(status for status, _, _ in flood.answers)
    refused = [(body["message"], retry_after) for status, body, retry_after in flood.answers
               if status == 429]
    limits = Counter(message.split(":")[0] for message, _ in refused)
    others = {status: count for status, count in statuses.items() if status not in (202, 429)}
    print(f"{label}: {len(flood.answers)} submits in {seconds:.1f} s, "
          f"{statuses.get(202, 0)} accepted, {len(refused)} refused (429), "
          f"{sum(1 for _, after in refused if after and int(after) >= 1)} of them with "
          f"Retry-After; other answers {others}")
    for limit, count in limits.most_common():
        print(f"  {count:5d} x {limit}")


def report_legitimate(label, jobs):
    accepted = [job for job in jobs if job["status"] == 202]
    print(f"legitimate user at {LEGITIMATE} {label}: {len(accepted)} of {len(jobs)} "
          f"accepted; other answers {[job['message'] for job in jobs if job['status'] != 202]}")
    if accepted:
        submits = [job["submit"] for job in accepted]
        completions = [job["completion"] for job in accepted if job["completion"]]
        print(f"  submit latency p50 {percentile(submits, 0.5) * 1000:.1f} ms, "
              f"max {max(submits) * 1000:.1f} ms; submit to completed p50 "
              f"{percentile(completions, 0.5):.2f} s, max {max(completions):.2f} s "
              f"({sum(job.get('final') == 'completed' for job in accepted)} completed)")


def wait_for_calls(ai, expected, timeout=180):
    """The AI calls made once the queue has drained: the count stops growing."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(ai.calls)
        if count != seen:
            seen, since = count, time.monotonic()
        elif count >= expected and time.monotonic() - since > 3:
            break
        elif time.monotonic() - since > 15:
            break
        time.sleep(0.5)
    return len(ai.calls)


if __name__ == "__main__":
    main()
