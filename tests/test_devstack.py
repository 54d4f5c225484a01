"""`make run`'s runner: embedded services, data kept between runs, a clear
line for a bad setting, and nothing left running after Ctrl-C."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from chalicelib import settings
from devstack import services
from devstack.services import StackProcess
from tests.support import ROOT
from tests.support.client import Client

SERVICE_VARIABLES = ("MONGODB_URI", "REDIS_URL", "SQS_ENDPOINT_URL", "JWT_SECRET")


@pytest.fixture
def bare_env(monkeypatch, tmp_path):
    """The environment of a fresh laptop: no service URLs and no secret."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return {"DATA_DIR": str(tmp_path / "data"), "STAGE": "local"}


def started_ports(log):
    return [int(port) for port in re.findall(r"started \w+ at \w+://127\.0\.0\.1:(\d+)", log)]


def is_listening(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_run_starts_every_service_and_stops_them_all(bare_env, tmp_path, stop_signal):
    stack = StackProcess(bare_env, tmp_path / "run.log").start()
    user = Client(stack.url).register()
    stack.stop(stop_signal)
    log = stack.log()
    ports = started_ports(log)
    assert len(ports) == 4, log  # MongoDB, Redis, SQS and SMTP
    assert user["token"] not in log
    assert [port for port in ports if is_listening(port)] == []
    assert stack.process.returncode == 0


def test_data_and_the_local_secret_survive_a_restart(bare_env, tmp_path):
    first = StackProcess(bare_env, tmp_path / "first.log").start()
    user = Client(first.url).register()
    first.stop()
    second = StackProcess(bare_env, tmp_path / "second.log").start()
    try:
        client = Client(second.url)
        assert client.get("/auth/me", token=user["token"]).status_code == 200
        login = client.post("/auth/login", json={"email": user["email"],
                                                 "password": user["password"]})
        assert login.status_code == 200
    finally:
        second.stop()
    secret = tmp_path / "data" / "jwt-secret"
    assert oct(secret.stat().st_mode & 0o777) == "0o600"


def test_a_bad_setting_stops_start_up_with_one_clear_line(bare_env, tmp_path):
    env = {**os.environ, **bare_env, "GENERATION_DELAY_SECONDS": "901"}
    result = subprocess.run([sys.executable, "-m", "devstack"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "make run: GENERATION_DELAY_SECONDS must be between 0 and 900, got 901"


def test_a_missing_secret_is_an_error_for_the_function_that_reads_it():
    config = settings.from_env({"STAGE": "prod", "MONGODB_URI": "mongodb://db",
                                "CORS_ORIGIN": "https://app.example.com"})
    with pytest.raises(settings.SettingsError, match="JWT_SECRET must be set"):
        config.require("jwt_secret")


def test_a_missing_cors_origin_outside_local_is_an_error():
    with pytest.raises(settings.SettingsError,
                       match="CORS_ORIGIN must be set outside the local stage"):
        settings.from_env({"STAGE": "prod", "MONGODB_URI": "mongodb://db"})


def test_settings_have_local_defaults_for_everything_but_secrets():
    config = settings.from_env({"JWT_SECRET": "x" * 32, "MONGODB_URI": "mongodb://db"})
    assert (config.port, config.generation_delay_seconds, config.cors_origin) == \
        (5000, 60, "http://localhost:3000")
    assert config.openrouter_base_url == "https://openrouter.ai/api/v1"


def wait_until_closed(ports, timeout=10):
    deadline = time.monotonic() + timeout
    while [port for port in ports if is_listening(port)] and time.monotonic() < deadline:
        time.sleep(0.1)
    return [port for port in ports if is_listening(port)]


def test_after_kill_9_nothing_is_left_and_a_restart_keeps_data_and_runs_queued_jobs(
        bare_env, tmp_path, openrouter):
    env = {**bare_env, "GENERATION_DELAY_SECONDS": "4"}
    first = StackProcess(env, tmp_path / "first.log").start()
    client = Client(first.url)
    user = client.register()
    prompt = f"Queued across a kill -9 {time.monotonic_ns()}"
    queued = client.post("/generate-content", token=user["token"],
                         json={"prompt": prompt, "contentType": "Blog Post Outline"}).json()
    first.stop(signal.SIGKILL)
    assert wait_until_closed(started_ports(first.log())) == []
    second = StackProcess(env, tmp_path / "second.log").start()
    try:
        client = Client(second.url)
        assert client.get("/auth/me", token=user["token"]).status_code == 200
        deadline = time.monotonic() + 60
        while (job := client.get(f"/generate-content/{queued['jobId']}",
                                 token=user["token"]).json())["status"] in ("queued",
                                                                            "processing"):
            assert time.monotonic() < deadline, "the queued job never ran after the restart"
            time.sleep(0.2)
    finally:
        second.stop()
    assert job["status"] == "completed"
    assert len(openrouter.calls_for(prompt)) == 1


def test_a_database_left_running_on_the_data_folder_is_ended_at_start(bare_env, tmp_path):
    storage = tmp_path / "data" / "mongodb"
    storage.mkdir(parents=True)
    leftover = subprocess.Popen(
        [str(services.BIN / "secantusd-py"), "--host", "127.0.0.1", "--port",
         str(services.free_port()), "--storage-path", str(storage)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1)
    stack = StackProcess(bare_env, tmp_path / "run.log").start()
    try:
        Client(stack.url).register()
        assert leftover.wait(timeout=10) is not None
    finally:
        stack.stop()


def test_another_program_holding_the_data_folder_stops_start_up_with_one_line(bare_env,
                                                                             tmp_path):
    storage = tmp_path / "data" / "mongodb"
    storage.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                               str(storage)])
    try:
        result = subprocess.run([sys.executable, "-m", "devstack"], cwd=ROOT,
                                env={**os.environ, **bare_env}, capture_output=True,
                                text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"make run: {storage} is in use by process {holder.pid} (")
    assert result.stderr.strip().endswith("; stop it, then start again")


def test_the_local_queues_are_the_topologys(backing):
    import json

    from chalicelib import queue
    from devstack.stack import ensure_queues
    from infra import topology
    local = topology.local({"JobsQueueName": "topology-jobs",
                            "DeadLetterQueueName": "topology-dlq"})
    ensure_queues(local)
    sqs = queue.client()
    attributes = sqs.get_queue_attributes(QueueUrl=local.queue_url("topology-jobs"),
                                          AttributeNames=["All"])["Attributes"]
    dead = sqs.get_queue_attributes(QueueUrl=local.queue_url("topology-dlq"),
                                    AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "360"
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead["QueueArn"],
                                                       "maxReceiveCount": 5}
    assert dead["VisibilityTimeout"] == "180"
    worker = local.consumers()["Worker"]
    assert (worker.queue, worker.batch_size, worker.report_failures, worker.max_concurrency) == \
        ("topology-jobs", 10, True, 5)
    assert local.schedules() == {"Sweeper": 300}


def test_an_unknown_stack_parameter_stops_start_up_with_one_clear_line(bare_env):
    env = {**os.environ, **bare_env, "STACK_PARAMETERS": "MaxRecieveCount=2"}
    result = subprocess.run([sys.executable, "-m", "devstack"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "make run: unknown template parameters: MaxRecieveCount"
