"""What the limit checks add to POST /generate-content and POST /auth/login:
two local stacks in the same run, one as shipped and one with every check a
no-op (bench.limits_off), requests alternating between them, one client.
Submits stay under the per-user limits (5 per user); logins use the right
password; the per-address caps are raised so none refuses, but still counted."""
import tempfile
import time
from pathlib import Path

import requests

from bench import percentile, summary
from devstack.services import StackProcess

USERS = 60
JOBS_PER_USER = 5
LOGINS = 300
ENV = {"STAGE": "local", "LOG_LEVEL": "WARNING", "MONGODB_URI": "", "REDIS_URL": "",
       "SQS_ENDPOINT_URL": "", "JWT_SECRET": "", "BCRYPT_ROUNDS": "4",
       # No job comes due during the run, so no worker competes for the cores.
       "GENERATION_DELAY_SECONDS": "900",
       "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "1000000",
       "REGISTRATIONS_PER_IP_PER_MINUTE": "1000000",
       "MAX_JOBS_PER_ADDRESS_PER_DAY": "10000000"}
JOB = {"prompt": "Benchmark prompt", "contentType": "Social Media Caption"}


def main():
    with tempfile.TemporaryDirectory() as scratch:
        stacks = {}
        try:
            for mode, module in (("on", "devstack"), ("off", "bench.limits_off")):
                folder = Path(scratch) / mode
                folder.mkdir()
                stacks[mode] = StackProcess({**ENV, "DATA_DIR": str(folder)},
                                            folder / "stack.log", module=module).start()
            report(measure({mode: stack.url for mode, stack in stacks.items()}))
        finally:
            for stack in stacks.values():
                stack.stop()
    print("(bcrypt at cost 4, so the checks are not hidden behind it; load generator "
          "and both servers share the machine's 2 cores)")


def measure(urls):
    sessions = {mode: requests.Session() for mode in urls}
    users = {mode: [_register(sessions[mode], url, n) for n in range(USERS)]
             for mode, url in urls.items()}
    times = {(request, mode): [] for request in ("submit", "login") for mode in urls}
    for index in range(USERS * JOBS_PER_USER):
        for mode in _alternating(urls, index):
            user = users[mode][index % USERS]
            times["submit", mode].append(_timed(
                sessions[mode], 202, f"{urls[mode]}/generate-content", JOB,
                {"Authorization": f"Bearer {user['token']}"}))
    for index in range(LOGINS):
        for mode in _alternating(urls, index):
            user = users[mode][index % USERS]
            times["login", mode].append(_timed(
                sessions[mode], 200, f"{urls[mode]}/auth/login",
                {"email": user["email"], "password": "pw"}))
    return times


def report(times):
    labels = {"submit": "POST /generate-content", "login": "POST /auth/login"}
    print(f"{'request':<24}{'limits':>7}  latency")
    for request, label in labels.items():
        for mode in ("on", "off"):
            print(f"{label:<24}{mode:>7}  {summary(times[request, mode])}")
        on, off = (percentile(times[request, mode], 0.5) for mode in ("on", "off"))
        print(f"{'':<24}{'':>7}  p50 on/off {on / off:.2f}x (+{(on - off) * 1000:.1f} ms)",
              flush=True)


def _alternating(urls, index):
    modes = list(urls)
    return modes if index % 2 == 0 else modes[::-1]


def _timed(session, status, url, body, headers=None):
    started = time.perf_counter()
    response = session.post(url, json=body, headers=headers, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != status:
        raise RuntimeError(f"{url}: {response.status_code} {response.text}")
    return elapsed


def _register(session, url, n):
    email = f"limits-{n}-{time.monotonic_ns()}@example.com"
    response = session.post(f"{url}/auth/register",
                            json={"name": "Bench", "email": email, "password": "pw"})
    return {"email": email, "token": response.json()["token"]}


if __name__ == "__main__":
    main()
