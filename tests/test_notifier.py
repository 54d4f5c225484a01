"""Section 7 of the contract: `job_completed` over Socket.IO to the owner's
sockets only, through the whole stack (API, SQS, worker, Redis, notifier),
with python-socketio's client and the official JavaScript client."""
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import jwt
import pytest
import socketio
import websockets.sync.client

from chalicelib import db
from devstack import services
from devstack.services import StackProcess
from tests.support import JWT_SECRET, ROOT
from tests.support.client import Client
from tests.support.jobs import submit, unique, wait_until_finished
from tests.support.listener import Listener
from tests.support.notifier import Notifier, insert_finished, published, received

JS_CLIENT = ROOT / "tests" / "js"


def refusal_for(url, token):
    listener = Listener(url, token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        listener.connect()
    return listener.refusal


@pytest.fixture(params=["local stack", "python -m notifier"])
def socket_url(request, stack, tmp_path):
    """Either Socket.IO server: the local stack's (uvicorn, beside the API)
    and the deployed one (aiohttp, on its own)."""
    if request.param == "local stack":
        return stack.url
    started = Notifier(tmp_path / "notifier.log").start()
    request.addfinalizer(started.stop)
    return started.url


def test_a_valid_token_connects(socket_url, user, listen):
    assert listen(user["token"], url=socket_url).client.connected


def test_a_missing_token_is_refused(socket_url):
    assert refusal_for(socket_url, "") == "Not authorized, no token"


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    jwt.encode({"id": "0123456789abcdef01234567", "iat": 1, "exp": 2}, JWT_SECRET,
               algorithm="HS256"),
    jwt.encode({"id": "0123456789abcdef01234567", "iat": int(time.time()),
                "exp": int(time.time()) + 600}, None, algorithm="none"),
    jwt.encode({"id": "0123456789abcdef01234567", "iat": int(time.time()),
                "exp": int(time.time()) + 600}, "a-foreign-key-that-is-long-enough!",
               algorithm="HS256"),
], ids=["malformed", "expired", "alg-none", "foreign-key"])
def test_a_bad_token_is_refused(socket_url, token):
    assert refusal_for(socket_url, token) == "Not authorized"


def test_a_socket_is_disconnected_when_its_token_expires(socket_url, user, listen):
    now = int(time.time())
    token = jwt.encode({"id": user["_id"], "iat": now, "exp": now + 2}, JWT_SECRET,
                       algorithm="HS256")
    listener = listen(token, url=socket_url)
    assert listener.client.connected
    deadline = time.monotonic() + 10
    while listener.client.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not listener.client.connected


def test_a_token_for_an_unknown_user_is_refused(socket_url):
    now = int(time.time())
    token = jwt.encode({"id": "0123456789abcdef01234567", "iat": now, "exp": now + 600},
                       JWT_SECRET, algorithm="HS256")
    assert refusal_for(socket_url, token) == "User not found"


def test_the_owner_receives_the_exact_success_payload(api, user, listen):
    listener = listen(user["token"])
    queued = submit(api, user, unique("Socket success"))
    event = listener.event_for(queued["jobId"])
    job = wait_until_finished(api, user, queued["jobId"])
    assert event == {"userId": user["_id"], "jobId": queued["jobId"], "status": "completed",
                     "generatedContent": job["generatedContent"],
                     "completedAt": job["completedAt"]}


def test_the_owner_receives_the_exact_failure_payload(api, user, listen):
    listener = listen(user["token"])
    queued = submit(api, user, unique("[payment-required] Socket failure"))
    event = listener.event_for(queued["jobId"])
    job = wait_until_finished(api, user, queued["jobId"])
    assert event == {"userId": user["_id"], "jobId": queued["jobId"], "status": "failed",
                     "error": "OpenRouter account has insufficient credits",
                     "completedAt": job["completedAt"]}


def test_another_user_receives_nothing(api, user, other_user, listen):
    owner = listen(user["token"])
    stranger = listen(other_user["token"])
    queued = submit(api, user, unique("Not for strangers"))
    owner.event_for(queued["jobId"])
    time.sleep(0.5)
    assert stranger.events.empty()


def test_every_tab_of_the_owner_receives_it(api, user, listen):
    tabs = [listen(user["token"]), listen(user["token"])]
    queued = submit(api, user, unique("Two tabs"))
    assert [tab.event_for(queued["jobId"])["jobId"] for tab in tabs] == [queued["jobId"]] * 2


def test_a_socket_with_since_is_sent_the_results_it_missed_oldest_first(api, user, listen,
                                                                       socket_url):
    first = submit(api, user, unique("Before the nap"))
    since = wait_until_finished(api, user, first["jobId"])["completedAt"]
    missed = [submit(api, user, unique("While away")),
              submit(api, user, unique("[payment-required] While away"))]
    finished = sorted((wait_until_finished(api, user, job["jobId"]) for job in missed),
                      key=lambda job: job["completedAt"])
    listener = listen(user["token"], url=socket_url, since=since)
    assert received(listener) == [
        {"userId": user["_id"], "jobId": job["jobId"], "status": job["status"],
         **({"generatedContent": job["generatedContent"]} if job["status"] == "completed"
            else {"error": job["error"]}),
         "completedAt": job["completedAt"]} for job in finished]


def test_a_socket_without_since_is_sent_nothing_from_the_past(api, user, listen):
    wait_until_finished(api, user, submit(api, user, unique("Past result"))["jobId"])
    assert received(listen(user["token"])) == []


def test_catch_up_sends_only_the_users_own_jobs(api, user, other_user, listen):
    wait_until_finished(api, user, submit(api, user, unique("Not yours"))["jobId"])
    assert received(listen(other_user["token"], since="2000-01-01T00:00:00.000Z")) == []


def test_catch_up_sends_at_most_fifty_results(user, listen):
    insert_finished(db.object_id(user["_id"]), 55)
    events = received(listen(user["token"], since="2000-01-01T00:00:00Z"), wait=2)
    assert [event["jobId"] for event in events] == \
        [f"catch-up-{user['_id']}-{n}" for n in range(50)]


@pytest.mark.parametrize("since", ["yesterday", 12345, {"$gt": ""}, "2026-13-45T99:00:00Z"])
def test_a_since_that_is_no_time_is_accepted_without_catch_up(user, listen, since):
    insert_finished(db.object_id(user["_id"]), 1)
    listener = listen(user["token"], since=since)
    assert listener.client.connected
    assert received(listener) == []


@pytest.fixture
def notifier(stack, tmp_path):
    started = Notifier(tmp_path / "notifier.log").start()
    yield started
    started.stop()


def test_a_client_of_a_second_notifier_process_receives_it(api, user, listen, notifier):
    listener = listen(user["token"], url=notifier.url)
    queued = submit(api, user, unique("Second notifier"))
    assert listener.event_for(queued["jobId"])["status"] == "completed"


def test_the_standalone_notifier_answers_health_checks(notifier):
    response = Client(notifier.url).get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_standalone_notifier_declines_websocket_compression(notifier):
    url = notifier.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with websockets.sync.client.connect(url, compression="deflate") as socket:
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        assert socket.recv().startswith("0{")


@pytest.mark.parametrize("missing, line", [
    ("CORS_ORIGIN", "notifier: CORS_ORIGIN must be set outside the local stage"),
    ("JWT_SECRET", "notifier: JWT_SECRET must be set"),
])
def test_the_notifier_outside_local_stops_with_one_line_without(missing, line):
    env = {"PATH": os.environ["PATH"], "STAGE": "notifier", "MONGODB_URI": "mongodb://db:27017",
           "CORS_ORIGIN": "https://app.example.com", "JWT_SECRET": JWT_SECRET}
    del env[missing]
    result = subprocess.run([sys.executable, "-m", "notifier"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line]


def test_a_client_reconnects_after_a_notifier_restart(api, user, listen, notifier):
    listener = listen(user["token"], url=notifier.url, reconnection=True)
    notifier.stop()
    notifier.start()
    deadline = time.monotonic() + 15
    while not listener.client.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    queued = submit(api, user, unique("After notifier restart"))
    assert listener.event_for(queued["jobId"])["status"] == "completed"


class Redis:
    """A Redis that a test may stop and start again on the same port."""

    def __init__(self, logs):
        self.logs, self.service = logs, services.start_redis(logs)

    def stop(self):
        self.service.stop()

    def start(self):
        self.service = services.start_redis(self.logs, port=self.service.port)


@pytest.fixture
def redis_of_its_own(stack_env, logs, tmp_path):
    """A Redis of its own, and a stack using it (on queues of its own, so the
    session's stack, on another Redis, cannot take its jobs)."""
    redis = Redis(logs)
    env = {**stack_env, "REDIS_URL": redis.service.url,
           "STACK_PARAMETERS": "JobsQueueName=redis-restart-jobs "
                               "DeadLetterQueueName=redis-restart-dlq"}
    stack = StackProcess(env, tmp_path / "stack.log").start()
    yield redis, stack
    stack.stop()
    redis.stop()


def test_events_still_arrive_after_redis_restarts(redis_of_its_own, user):
    redis, stack = redis_of_its_own
    listener = Listener(stack.url, user["token"]).connect()
    try:
        redis.stop()
        redis.start()
        time.sleep(3)
        queued = submit(Client(stack.url), user, unique("After Redis restart"))
        assert listener.event_for(queued["jobId"], timeout=20)["status"] == "completed"
    finally:
        listener.close()


@pytest.mark.parametrize("server", ["local stack", "python -m notifier"])
def test_a_socket_connected_through_a_redis_outage_is_sent_what_finished_in_it(
        redis_of_its_own, user, server, tmp_path):
    redis, stack = redis_of_its_own
    api = Client(stack.url)
    url = stack.url
    if server == "python -m notifier":
        notifier = Notifier(tmp_path / "notifier.log", env={"REDIS_URL": redis.service.url})
        url = notifier.start().url
    listener = Listener(url, user["token"]).connect()
    try:
        redis.stop()
        queued = submit(api, user, unique("During a Redis outage"))
        assert wait_until_finished(api, user, queued["jobId"])["status"] == "completed"
        redis.start()
        assert listener.event_for(queued["jobId"], timeout=20)["status"] == "completed"
    finally:
        listener.close()
        if server == "python -m notifier":
            notifier.stop()


@pytest.fixture(scope="session")
def node_client():
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("Node.js and npm are not installed, so the official JavaScript "
                    "socket.io-client cannot run")
    if not (JS_CLIENT / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS_CLIENT,
                       check=True, timeout=300)
    return JS_CLIENT / "client.js"


class NodeListener:
    def __init__(self, script, url, token, transport=""):
        self.lines = queue.Queue()
        self.process = subprocess.Popen(["node", str(script), url, token, transport], text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout=15):
        return self.lines.get(timeout=timeout)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.mark.parametrize("transport", ["", "polling"], ids=["upgrade", "polling-only"])
def test_the_javascript_client_receives_its_job_completed(api, user, node_client, socket_url,
                                                          transport):
    listener = NodeListener(node_client, socket_url, user["token"], transport)
    try:
        assert listener.next()["kind"] == "connect"
        queued = submit(api, user, unique("JavaScript client"))
        event = listener.next()
        job = wait_until_finished(api, user, queued["jobId"])
    finally:
        listener.close()
    assert event == {"kind": "job_completed", "data": {
        "userId": user["_id"], "jobId": queued["jobId"], "status": "completed",
        "generatedContent": job["generatedContent"], "completedAt": job["completedAt"]}}


def test_the_javascript_client_sees_a_refusal_as_connect_error(node_client, socket_url):
    listener = NodeListener(node_client, socket_url, "not-a-jwt")
    try:
        assert listener.next() == {"kind": "connect_error", "data": "Not authorized"}
    finally:
        listener.close()


def test_the_notifier_publishes_the_sockets_it_holds_as_an_embedded_metric(tmp_path, user,
                                                                             listen):
    started = Notifier(tmp_path / "notifier.log", env={
        "NOTIFIER_METRICS_SECONDS": "1", "NOTIFIER_SERVICE_NAME": "test-notifier"}).start()
    try:
        for _ in range(3):
            listen(user["token"], url=started.url)
        record = published(started.log_path.read_text, "SocketsHeld", 3)
    finally:
        started.stop()
    assert record["_aws"]["CloudWatchMetrics"] == [{
        "Namespace": "AIContentGenerator", "Dimensions": [["ServiceName"]],
        "Metrics": [{"Name": "SocketsHeld", "Unit": "Count"}]}]
    assert record["ServiceName"] == "test-notifier"
