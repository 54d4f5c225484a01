"""`make run`'s runner: embedded services, data kept between runs, a clear
line for a bad setting, and nothing left running after Ctrl-C."""
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from chalicelib import settings
from devstack.services import StackProcess
from tests.conftest import ROOT, Client

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
    assert len(ports) == 3, log
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
