"""Requests/s and latency through the local server (`python -m devstack` on
its embedded services) for GET /content with 20 items and POST /content,
with 1, 8 and 32 concurrent clients."""
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench import percentile
from devstack.services import StackProcess

SECONDS_PER_CELL = 5
CONCURRENCY = (1, 8, 32)
ITEM = {"title": "Benchmark item", "type": "Blog Post Outline",
        "body": "# Outline\n\n- one\n- two\n- three\n" * 5}


def run_cell(url, token, method, clients):
    latencies, errors = [], []
    stop_at = time.perf_counter() + SECONDS_PER_CELL
    lock = threading.Lock()

    def client():
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"}
        mine, failed = [], 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = session.request(method, url, headers=headers,
                                       json=ITEM if method == "POST" else None, timeout=30)
            mine.append(time.perf_counter() - started)
            failed += response.status_code >= 400
        with lock:
            latencies.extend(mine)
            errors.append(failed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, sum(errors)


def main():
    with tempfile.TemporaryDirectory() as scratch:
        stack = StackProcess({"DATA_DIR": scratch, "STAGE": "local", "LOG_LEVEL": "WARNING",
                              "MONGODB_URI": "", "REDIS_URL": "", "SQS_ENDPOINT_URL": "",
                              "JWT_SECRET": ""},
                             Path(scratch) / "stack.log").start()
        try:
            reader, writer = _user(stack.url, 20), _user(stack.url, 0)
            print(f"{'request':<22}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
                  f"{'errors':>8}")
            for label, method, token in (("GET /content (20)", "GET", reader),
                                         ("POST /content", "POST", writer)):
                for clients in CONCURRENCY:
                    rate, latencies, errors = run_cell(f"{stack.url}/content", token, method,
                                                       clients)
                    print(f"{label:<22}{clients:>8}{rate:>10.0f}"
                          f"{percentile(latencies, 0.5) * 1000:>10.1f}"
                          f"{percentile(latencies, 0.99) * 1000:>10.1f}{errors:>8}", flush=True)
        finally:
            stack.stop()
    print("(load generator and server share the machine's 2 cores)")


def _user(url, items):
    email = f"load-{time.monotonic_ns()}@example.com"
    token = requests.post(f"{url}/auth/register", json={"name": "Load", "email": email,
                                                        "password": "pw"}).json()["token"]
    for _ in range(items):
        requests.post(f"{url}/content", json=ITEM, headers={"Authorization": f"Bearer {token}"})
    return token


if __name__ == "__main__":
    main()
