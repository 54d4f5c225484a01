"""`python -m notifier` as a process of its own, and what its sockets receive."""
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

from chalicelib import clock, db
from devstack import services
from tests.support import ROOT


def received(listener, wait=1.0):
    time.sleep(wait)
    events = []
    while not listener.events.empty():
        events.append(listener.events.get())
    return events


def published(output, metric, value, timeout=10):
    """The first Embedded Metric Format line in a notifier's output (what
    `output()` reads) that gives `metric` as `value`, waiting for it up to
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in output().splitlines():
            record = json.loads(line) if line.startswith('{"_aws"') else {}
            if record.get(metric) == [value]:
                return record
        time.sleep(0.2)
    raise AssertionError(f"no {metric} of {value} published within {timeout} s")


def insert_finished(user_id, count):
    moment = clock.now()
    db.get().jobs.insert_many([
        {"jobId": f"catch-up-{user_id}-{n}", "userId": user_id, "prompt": "p",
         "contentType": "Blog Post Outline", "status": "completed", "generatedContent": "x",
         "scheduledFor": moment, "createdAt": moment, "updatedAt": moment, "__v": 0,
         "completedAt": moment + timedelta(milliseconds=n)} for n in range(count)])


class Notifier:
    """`python -m notifier` on a port of its own."""

    def __init__(self, log_path, port=None, env=None):
        self.port = port or services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, **(env or {}), "NOTIFIER_PORT": str(self.port),
                    "HOST": "127.0.0.1"}
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, "-m", "notifier"], cwd=ROOT,
                                        env=self.env, stdout=open(self.log_path, "ab"),
                                        stderr=subprocess.STDOUT,
                                        preexec_fn=services.die_with_parent)
        services.wait_until_listening(self.process, self.port, "the notifier")
        return self

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the notifier did not stop within 10 s of SIGTERM")
