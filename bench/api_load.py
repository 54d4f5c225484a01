"""Requests/s, latency and CPU per request through the local server
(`python -m devstack`), beside floors measured in the same run:

- GET /content (20 items) and POST /content at 1, 8 and 32 clients, and the
  search at 8, with the API process's CPU-ms per request;
- GET /content beside bench.floor, bare Chalice routes running the same
  queries through the same gateway (goal: ≤ 1.1×), and beside bench.bare,
  the same work on the standard library's HTTP server and pymongo alone,
  with the API process's and the database server's CPU-ms per request;
- POST /auth/login beside bench.floor's route that only checks a password at
  the same rounds, through the same gateway and load generator, and beside
  bcrypt alone in this process (goal: within 5 %), and the database round
  trips of one login;
- GET /content and the search for a user with 20 items alone in its
  database, and for one beside 100,000 items of other users, on the same
  server (goal: within 1.5×)."""
import os
import secrets
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import bcrypt
import pymongo
import requests
from bson import ObjectId
from pymongo import monitoring

from bench import CommandCounter, percentile
from devstack import services
from devstack.services import StackProcess

SECONDS_PER_CELL = 5
CONCURRENCY = (1, 8, 32)
LOAD_CLIENTS = 8
LOGIN_CLIENTS = 4
BCRYPT_ROUNDS = 10
CROWD = 100_000
DATABASE = "ai_content"
CROWDED_DATABASE = "ai_content_crowded"
ITEM = {"title": "Benchmark item", "type": "Blog Post Outline",
        "body": "# Outline\n\n- one\n- two\n- three\n" * 5}
SEARCH = "outline"


def main():
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        backing = [services.start_mongo(":memory:", folder), services.start_redis(folder)]
        mongo, redis = backing
        env = {"DATA_DIR": scratch, "STAGE": "local", "LOG_LEVEL": "WARNING",
               "MONGODB_URI": mongo.url, "MONGODB_DB": DATABASE, "REDIS_URL": redis.url,
               "SQS_ENDPOINT_URL": "", "JWT_SECRET": secrets.token_urlsafe(48),
               "BCRYPT_ROUNDS": str(BCRYPT_ROUNDS), "GENERATION_DELAY_SECONDS": "900",
               "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "1000000",
               "REGISTRATIONS_PER_IP_PER_MINUTE": "1000000",
               # The POST cells store thousands of items for one user.
               "MAX_LIBRARY_ITEMS_PER_USER": "100000",
               "MAX_LIBRARY_CHARACTERS_PER_USER": "100000000"}
        stacks = []
        try:
            stack = StackProcess(env, folder / "stack.log").start()
            stacks.append(stack)
            floor = StackProcess(env, folder / "floor.log", module="bench.floor").start()
            stacks.append(floor)
            bare = StackProcess(env, folder / "bare.log", module="bench.bare").start()
            stacks.append(bare)
            (folder / "crowded").mkdir()
            crowded = StackProcess({**env, "MONGODB_DB": CROWDED_DATABASE,
                                    "DATA_DIR": str(folder / "crowded")},
                                   folder / "crowded.log").start()
            stacks.append(crowded)
            reader, writer = _user(stack.url, 20), _user(stack.url, 0)
            load_table(stack, reader, writer)
            against_floor(stack, floor, bare, reader, mongo)
            login(stack, floor, writer, env, mongo)
            crowd(stack, crowded, reader, mongo.url)
        finally:
            for running in stacks:
                running.stop()
            for service in backing:
                service.stop()
    print("(load generator, servers and database share the machine's 2 cores)")


def load_table(stack, reader, writer):
    print(f"{'request':<24}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'CPU ms/req':>12}{'errors':>8}")
    cells = [("GET /content (20)", "GET", "/content", reader, clients)
             for clients in CONCURRENCY]
    cells.append(("GET /content?search", "GET", f"/content?search={SEARCH}", reader,
                  LOAD_CLIENTS))
    cells += [("POST /content", "POST", "/content", writer, clients) for clients in CONCURRENCY]
    for label, method, path, user, clients in cells:
        cell = run_cell(stack, method, path, user["token"], clients)
        print(f"{label:<24}{clients:>8}{cell.rate:>10.0f}{cell.p50:>10.1f}{cell.p99:>10.1f}"
              f"{cell.cpu_ms:>12.2f}{cell.errors:>8}", flush=True)


def against_floor(stack, floor, bare, reader, database):
    """Alternating, so that all four see the same neighbours on the cores."""
    runs = {"project": [], "same queries": [], "items query": [], "bare stdlib + pymongo": []}
    for _ in range(2):
        for label, server, path, token in (
                ("project", stack, "/content", reader["token"]),
                ("same queries", floor, "/content", reader["token"]),
                ("items query", floor, f"/items?user={reader['_id']}", None),
                ("bare stdlib + pymongo", bare, "/content", reader["token"])):
            before = _cpu_seconds(database.process.pid)
            cell = run_cell(server, "GET", path, token, LOAD_CLIENTS)
            cell.database_ms = (_cpu_seconds(database.process.pid) - before) * 1000 / cell.count
            runs[label].append(cell)
    project = _best(runs["project"])
    print(f"\nGET /content (20), {LOAD_CLIENTS} clients, beside bare Chalice routes "
          "through the same gateway and the same work without a framework:")
    print(f"{'':<24}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'API CPU ms':>12}"
          f"{'DB CPU ms':>11}{'req/s ratio':>13}{'CPU ratio':>11}{'errors':>8}")
    for label, cells in runs.items():
        cell = _best(cells)
        print(f"{label:<24}{cell.rate:>8.0f}{cell.p50:>8.1f}{cell.p99:>8.1f}{cell.cpu_ms:>12.2f}"
              f"{cell.database_ms:>11.2f}{cell.rate / project.rate:>12.2f}×"
              f"{project.cpu_ms / cell.cpu_ms:>10.2f}×{cell.errors:>8}")
    print("(CPU per request; goal: the bare Chalice routes within 1.1× of the project; "
          "'same queries' verifies the token and loads the user as the contract requires, "
          "'items query' does neither; 'bare stdlib + pymongo' does what 'same queries' does "
          "on http.server and pymongo alone: the framework's and the gateway's cost)")


def login(stack, floor, user, env, database):
    """Alternating with bench.floor's bcrypt route and with bcrypt alone in
    this process, on as many threads as clients; with the database server's
    CPU per login, as it shares the cores with bcrypt."""
    body = {"email": user["email"], "password": "pw"}
    logins, floors, alone = [], [], []
    for _ in range(2):
        before = _cpu_seconds(database.process.pid)
        cell = run_cell(stack, "POST", "/auth/login", None, LOGIN_CLIENTS, json=body)
        cell.database_ms = (_cpu_seconds(database.process.pid) - before) * 1000 / cell.count
        logins.append(cell)
        floors.append(run_cell(floor, "POST", "/bcrypt", None, LOGIN_CLIENTS, json=body))
        alone.append(bcrypt_rate(LOGIN_CLIENTS))
    cell, bare = _best(logins), _best(floors)
    ceiling, check_ms = max(alone)
    print(f"\nPOST /auth/login, {LOGIN_CLIENTS} clients, bcrypt cost {BCRYPT_ROUNDS}, beside "
          "a bare route that only checks the password, through the same gateway:")
    print(f"{'':<26}{'req/s':>8}{'p50 ms':>8}{'CPU ms/req':>12}{'errors':>8}")
    for label, each in (("POST /auth/login", cell), ("bare bcrypt route", bare)):
        print(f"{label:<26}{each.rate:>8.1f}{each.p50:>8.0f}{each.cpu_ms:>12.1f}{each.errors:>8}")
    print(f"{'bcrypt alone, in-process':<26}{ceiling:>8.1f}{'':>8}{check_ms:>12.1f}")
    print(f"login req/s {cell.rate / bare.rate:.2f}× the bare route's (goal ≥ 0.95×), "
          f"{cell.rate / ceiling:.2f}× bcrypt alone's; the route's CPU is "
          f"{bare.cpu_ms / cell.cpu_ms:.2f}× a login's, bcrypt alone's "
          f"{check_ms / cell.cpu_ms:.2f}× (goal ≥ 0.95×)")
    print(f"database server CPU per login {cell.database_ms:.1f} ms; round trips per login: "
          f"{login_round_trips(user, env)}")


def crowd(stack, crowded, reader, mongo_url):
    """The same reader's requests on two databases of the same server, one
    also holding 100,000 items of other users, alternating so that both see
    the same neighbours on the cores."""
    neighbour = _user(crowded.url, 20)
    _add_crowd(mongo_url, CROWDED_DATABASE)
    print(f"\nA user with 20 items, alone and beside {CROWD:,} items of other users "
          f"({LOAD_CLIENTS} clients):")
    for label, path in (("GET /content (20)", "/content"),
                        ("GET /content?search", f"/content?search={SEARCH}")):
        alone, beside = [], []
        for _ in range(2):
            alone.append(run_cell(stack, "GET", path, reader["token"], LOAD_CLIENTS))
            beside.append(run_cell(crowded, "GET", path, neighbour["token"], LOAD_CLIENTS))
        before, after = _best(alone), _best(beside)
        print(f"{label:<24} {before.rate:>6.0f} req/s alone, {after.rate:>6.0f} req/s "
              f"beside them: {before.rate / after.rate:.2f}× slower (goal ≤ 1.5×)", flush=True)


class Cell:
    def __init__(self, latencies, errors, elapsed, cpu_seconds):
        self.count = len(latencies)
        self.rate = len(latencies) / elapsed
        self.p50 = percentile(latencies, 0.5) * 1000
        self.p99 = percentile(latencies, 0.99) * 1000
        self.errors = errors
        self.cpu_ms = cpu_seconds * 1000 / max(1, len(latencies))


def run_cell(stack, method, path, token, clients, json=None):
    latencies, errors = [], []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = json if json is not None else (ITEM if method == "POST" else None)
    url = stack.url + path

    def client(stop_at):
        session = requests.Session()
        mine, failed = [], 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = session.request(method, url, headers=headers, json=body, timeout=30)
            mine.append(time.perf_counter() - started)
            failed += response.status_code >= 400
        with lock:
            latencies.extend(mine)
            errors.append(failed)

    cpu_before = _cpu_seconds(stack.process.pid)
    started = time.perf_counter()
    stop_at = started + SECONDS_PER_CELL
    threads = [threading.Thread(target=client, args=(stop_at,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Cell(latencies, sum(errors), elapsed, _cpu_seconds(stack.process.pid) - cpu_before)


def bcrypt_rate(threads):
    """bcrypt checks per second on `threads` threads (it releases the GIL),
    and the CPU-ms of one check."""
    stored = bcrypt.hashpw(b"pw", bcrypt.gensalt(BCRYPT_ROUNDS))
    stop_at = time.perf_counter() + SECONDS_PER_CELL
    cpu_before = time.process_time()

    def checks():
        count = 0
        while time.perf_counter() < stop_at:
            bcrypt.checkpw(b"pw", stored)
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: checks(), range(threads)))
    return total / (time.perf_counter() - started), \
        (time.process_time() - cpu_before) * 1000 / total


def login_round_trips(user, env):
    """One login in this process, on the stack's database, its commands counted."""
    from chalicelib import auth, settings

    counter = CommandCounter()
    monitoring.register(counter)
    settings.use(settings.from_env(env))
    auth.login({"email": user["email"], "password": "pw"}, "192.0.2.7")
    counter.names.clear()
    auth.login({"email": user["email"], "password": "pw"}, "192.0.2.7")
    return f"{len(counter.names)} ({', '.join(counter.names)})"


def _best(cells):
    return max(cells, key=lambda cell: cell.rate)


def _cpu_seconds(pid):
    """User and system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _add_crowd(mongo_url, database):
    client = pymongo.MongoClient(mongo_url)
    moment = datetime.now(timezone.utc)
    strangers = [ObjectId() for _ in range(CROWD // 20)]
    items = [{"userId": strangers[n % len(strangers)], "title": f"Item {uuid.uuid4().hex}",
              "type": ITEM["type"], "body": ITEM["body"], "createdAt": moment,
              "updatedAt": moment, "__v": 0} for n in range(CROWD)]
    for start in range(0, CROWD, 10_000):
        client[database].contents.insert_many(items[start:start + 10_000], ordered=False)
    client.close()


def _user(url, items):
    email = f"load-{time.monotonic_ns()}@example.com"
    registered = requests.post(f"{url}/auth/register", json={
        "name": "Load", "email": email, "password": "pw"}).json()
    for _ in range(items):
        requests.post(f"{url}/content", json=ITEM,
                      headers={"Authorization": f"Bearer {registered['token']}"})
    return registered


if __name__ == "__main__":
    main()
