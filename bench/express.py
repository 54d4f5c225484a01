"""This project beside the Express original it was written for
(systemadmin-lab/content_managment_backend), both on one MongoDB-wire server
and one Redis, bcrypt cost 10: GET /content (20 items) at 8 and 1
connections, the search at 8 and POST /content at 8, in alternating rounds.
Each cell prints req/s, p50 and p99 (medians of the rounds), each server's
and the database server's CPU-ms per request, the database commands a
request cost (the server's own counters), and the range of the rounds'
ratios: on two shared cores, runs minutes apart differ by 10-30 %, the
rounds of one run by less. Not in `make bench`: the original is not part of
this repository.

Prepare it outside the repository, then point EXPRESS_DIR at it:

    git clone https://github.com/systemadmin-lab/content_managment_backend /tmp/express
    cd /tmp/express && rm -f .env && npm install && npx tsc && npm install --no-save autocannon@8

The load generator is autocannon from that folder (what the issue's figures
used): one Node process, far cheaper per request than Python clients, on the
same two cores as both servers and the database."""
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pymongo
import requests

from bench.api_load import ITEM, _cpu_seconds, _user
from devstack import services
from devstack.services import StackProcess

ROUNDS = 5
WARM_UP_SECONDS = 1
SECONDS_PER_CELL = 5
SEARCH = "Outline"
DATABASES = {"project": "project", "express": "express"}
CELLS = (("GET /content (20)", "GET", "/content", 8),
         ("GET /content (20)", "GET", "/content", 1),
         ("GET /content?search", "GET", f"/content?search={SEARCH}", 8),
         # Last: the writes grow the collections the reads would scan.
         ("POST /content", "POST", "/content", 8))


def main():
    folder = Path(os.environ.get("EXPRESS_DIR", "/tmp/express"))
    autocannon = folder / "node_modules" / ".bin" / "autocannon"
    if not (folder / "dist" / "app.js").exists() or not autocannon.exists():
        print(f"the Express original is not prepared in {folder} (see bench/express.py)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        mongo, redis = services.start_mongo(":memory:", logs), services.start_redis(logs)
        secret = secrets.token_urlsafe(48)
        servers = []
        try:
            project = StackProcess({
                "DATA_DIR": scratch, "STAGE": "local", "LOG_LEVEL": "WARNING",
                "MONGODB_URI": mongo.url, "MONGODB_DB": DATABASES["project"], "REDIS_URL": redis.url,
                "SQS_ENDPOINT_URL": "", "JWT_SECRET": secret, "BCRYPT_ROUNDS": "10",
                "GENERATION_DELAY_SECONDS": "900",
                "REGISTRATIONS_PER_IP_PER_MINUTE": "1000000",
                # The POST cells store thousands of items for one user; the
                # original has no cap to refuse them.
                "MAX_LIBRARY_ITEMS_PER_USER": "100000",
                "MAX_LIBRARY_CHARACTERS_PER_USER": "100000000"}, logs / "project.log").start()
            servers.append(project)
            express = Express(folder, mongo, redis, secret, logs / "express.log")
            servers.append(express)
            compare({"project": project, "express": express}, autocannon, mongo)
        finally:
            for server in servers:
                server.stop()
            redis.stop()
            mongo.stop()


def compare(servers, autocannon, database):
    readers = {name: _user(server.url, 20) for name, server in servers.items()}
    writers = {name: _user(server.url, 0) for name, server in servers.items()}
    print(f"{ROUNDS} rounds of {SECONDS_PER_CELL} s per cell after {WARM_UP_SECONDS} s of "
          "warm-up, alternating; medians of the rounds (load average "
          f"{os.getloadavg()[0]:.1f} at the start)")
    print(f"{'request':<22}{'conns':>6}{'server':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'CPU ms/req':>12}{'DB CPU ms':>11}{'DB cmds':>9}{'errors':>8}{'ratio':>8}"
          f"{'rounds':>14}")
    for label, method, path, connections in CELLS:
        compare_cell(servers, autocannon, database, readers, writers, label, method, path,
                     connections)
    print(f"(ratio: the project's req/s over each server's; load average "
          f"{os.getloadavg()[0]:.1f} at the end; goal ≥ 1.0× at 8 connections, ≥ 1.2× at 1)")


def compare_cell(servers, autocannon, database, readers, writers, label, method, path,
                 connections):
    """One request at one concurrency, on every server in turn, ROUNDS times."""
    rounds = {name: [] for name in servers}
    for _ in range(ROUNDS):
        for name, server in servers.items():
            user = (writers if method == "POST" else readers)[name]
            rounds[name].append(run(autocannon, server, method, path, user["token"],
                                    connections, database))
    rates = {name: statistics.median(cell["rate"] for cell in cells)
             for name, cells in rounds.items()}
    for name, cells in rounds.items():
        # A server that answered nothing within the cell has no ratio.
        ratio = f"{rates['project'] / rates[name]:>7.2f}×" if rates[name] else f"{'-':>8}"
        each = sorted(ours["rate"] / theirs["rate"]
                      for ours, theirs in zip(rounds["project"], cells) if theirs["rate"])
        spread = f"{each[0]:.2f}–{each[-1]:.2f}×" if each else "-"
        print(f"{label:<22}{connections:>6}{name:>9}{rates[name]:>8.0f}"
              f"{statistics.median(c['p50'] for c in cells):>8.1f}"
              f"{statistics.median(c['p99'] for c in cells):>8.1f}"
              f"{statistics.median(c['cpu_ms'] for c in cells):>12.2f}"
              f"{statistics.median(c['database_ms'] for c in cells):>11.2f}"
              f"{statistics.median(c['commands'] for c in cells):>9.1f}"
              f"{sum(c['errors'] for c in cells):>8}{ratio}{spread:>14}", flush=True)


def run(autocannon, server, method, path, token, connections, database):
    """One autocannon cell, after a warm-up, with the server's and the
    database server's CPU per request and the commands the database served
    per request."""
    command = [str(autocannon), "--json", "-c", str(connections), "-m", method,
               "-H", f"Authorization=Bearer {token}"]
    if method == "POST":
        command += ["-H", "Content-Type=application/json", "-b", json.dumps(ITEM)]
    url = server.url + path
    subprocess.run(command + ["-d", str(WARM_UP_SECONDS), url], capture_output=True, check=True)
    before = (_cpu_seconds(server.process.pid), _cpu_seconds(database.process.pid),
              _commands(database))
    result = json.loads(subprocess.run(command + ["-d", str(SECONDS_PER_CELL), url],
                                       capture_output=True, check=True, text=True).stdout)
    total = result["requests"]["total"] or 1
    return {"rate": result["requests"]["average"], "p50": result["latency"]["p50"],
            "p99": result["latency"]["p99"], "errors": result["non2xx"] + result["errors"],
            "cpu_ms": (_cpu_seconds(server.process.pid) - before[0]) * 1000 / total,
            "database_ms": (_cpu_seconds(database.process.pid) - before[1]) * 1000 / total,
            "commands": (_commands(database) - before[2]) / total}


def _commands(database):
    """Every operation the database server has counted (both drivers'
    heartbeats included: a few in a cell of thousands of requests)."""
    with pymongo.MongoClient(database.url) as client:
        return sum(client.admin.command("serverStatus")["opcounters"].values())


class Express:
    """The original's API (`node dist/app.js`) on a free port, its own
    database on the same server."""

    def __init__(self, folder, mongo, redis, secret, log_path):
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PORT": str(self.port), "JWT_SECRET": secret,
               "MONGO_URI": f"mongodb://127.0.0.1:{mongo.port}/{DATABASES['express']}"
                                "?retryWrites=false",
               "REDIS_ENDPOINT": "127.0.0.1", "REDIS_PORT": str(redis.port)}
        self.process = subprocess.Popen(["node", "dist/app.js"], cwd=folder, env=env,
                                        stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True,
                                        preexec_fn=services.die_with_parent)
        services.wait_until_listening(self.process, self.port, f"express ({log_path})")
        # Mongoose connects after the port opens.
        deadline = time.monotonic() + 20
        while requests.post(f"{self.url}/auth/login", json={}).status_code >= 500:
            if time.monotonic() > deadline:
                raise RuntimeError(f"express never reached its database ({log_path})")
            time.sleep(0.2)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


if __name__ == "__main__":
    main()
