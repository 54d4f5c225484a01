"""The notifier's image starts from what it installs: its environment is
built the way notifier/Dockerfile builds it (a fresh virtualenv from exactly
the files it copies before installing, its code copied as it copies it, no
user site-packages and no PYTHON* variables from this machine) and run with
the task definition's environment and secrets from the packaged template.
Where a Docker engine answers, the real image is built and run as well."""
import dataclasses
import hashlib
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
import requests
import socketio
import yaml

from chalicelib import auth, notify, settings
from devstack import services
from devstack.aws import harness
from infra.topology import Topology
from tests.support import DEPLOYED_ORIGIN, JWT_SECRET, ROOT
from tests.support.listener import Listener
from tests.support.notifier import published

DOCKERFILE = ROOT / "notifier" / "Dockerfile"
REDIS_AUTH_TOKEN = "the-image-tests-auth-token"
SECRET_ARN_PREFIX = "arn:aws:secretsmanager:us-east-1:000000000000:secret:image-"


class Dockerfile:
    """The instructions of notifier/Dockerfile this test follows."""

    def __init__(self, path=DOCKERFILE):
        self.steps = []
        for line in _joined_lines(path.read_text()):
            instruction, _, rest = line.partition(" ")
            self.steps.append((instruction.upper(), rest.strip()))

    def python_version(self):
        image = self._one("FROM")
        return image.split(":", 1)[1].split("-", 1)[0]

    def environment(self):
        found = {}
        for instruction, rest in self.steps:
            if instruction == "ENV":
                found.update(pair.split("=", 1) for pair in shlex.split(rest))
        return found

    def command(self):
        return yaml.safe_load(self._one("CMD"))

    def _one(self, wanted):
        (value,) = [rest for instruction, rest in self.steps if instruction == wanted]
        return value


def _joined_lines(text):
    line = ""
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        line += raw
        if line.endswith("\\"):
            line = line[:-1] + " "
            continue
        yield line
        line = ""


def build_environment(dockerfile, app_dir):
    """The image's /app in `app_dir`, its interpreter from a virtualenv
    cached under .data/ by what its RUN lines install from."""
    installed, runs = hashlib.sha256(dockerfile.python_version().encode()), []
    for instruction, rest in dockerfile.steps:
        if instruction == "COPY":
            *sources, target = shlex.split(rest)
            for source in sources:
                _copy(ROOT / source, app_dir / target, target.endswith("/"))
                if not runs:
                    installed.update(source.encode() + _digest(ROOT / source))
        elif instruction == "RUN":
            runs.append(rest)
            installed.update(rest.encode())
    venv = services.data_dir() / "notifier-image" / installed.hexdigest()[:16]
    if not (venv / "ready").exists():
        _create_venv(dockerfile, venv, app_dir, runs)
    return venv / "bin" / "python"


def _copy(source, target, as_directory):
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    else:
        target = target / source.name if as_directory or target.is_dir() else target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _digest(path):
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).digest()
    return b"".join(_digest(child) for child in sorted(path.rglob("*")) if child.is_file())


def _create_venv(dockerfile, venv, app_dir, commands):
    base = Path(sys.base_prefix) / "bin" / f"python{dockerfile.python_version()}"
    if not base.exists():
        pytest.skip(f"the image's Python {dockerfile.python_version()} is not installed here")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, env=_clean_env(venv))
    for command in commands:
        # The image's `pip` is its interpreter's; nothing else on the PATH.
        subprocess.run(command, shell=True, cwd=app_dir, check=True, env=_clean_env(venv),
                       stdout=subprocess.DEVNULL)
    (venv / "ready").touch()


def _clean_env(venv, home=None):
    """What a process in the image starts with: its PATH and a HOME without
    user site-packages, and nothing else from this machine."""
    return {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home or venv / "home"), "LANG": "C.UTF-8"}


def task_environment(packaged, secrets, redis_port):
    """The notifier container's environment and secrets from the packaged
    template, as the harness starts it (ECS's way)."""
    template = yaml.safe_load(packaged["dev"].read_text())
    container = template["Resources"]["NotifierTaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]
    arns = {item["ValueFrom"]["Ref"]: f"{SECRET_ARN_PREFIX}{item['Name']}"
            for item in container["Secrets"]}
    topology = Topology(template, arns, attributes={"Redis": {
        "PrimaryEndPoint.Address": "127.0.0.1", "PrimaryEndPoint.Port": str(redis_port)}})
    return harness.task_environment(template, topology.resolve, lambda SecretId: {
        "SecretString": secrets[SecretId.removeprefix(SECRET_ARN_PREFIX)]})


class VirtualenvImage:
    def __init__(self, dockerfile, work):
        self.dockerfile, self.work = dockerfile, work
        self.app_dir = work / "app"
        self.process = None

    def start(self, environment, port):
        self.app_dir.mkdir()
        python = build_environment(self.dockerfile, self.app_dir)
        command = [str(python) if part == "python" else part
                   for part in self.dockerfile.command()]
        env = {**_clean_env(python.parent.parent, home=self.work / "home"),
               **self.dockerfile.environment(), **environment,
               "NOTIFIER_PORT": str(port), "HOST": "127.0.0.1"}
        self.log = self.work / "notifier.log"
        self.process = subprocess.Popen(command, cwd=self.app_dir, env=env,
                                        stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL,
                                        preexec_fn=services.die_with_parent)
        try:
            services.wait_until_listening(self.process, port, "the notifier image")
        except RuntimeError as error:
            raise AssertionError(f"{error}: {self.log.read_text()[-2000:]}") from None

    def output(self):
        return self.log.read_text()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class DockerImage:
    def __init__(self, dockerfile, work):
        self.tag = f"ai-content-notifier-test:{uuid.uuid4().hex[:8]}"
        self.container = None

    def start(self, environment, port):
        subprocess.run(["docker", "build", "-q", "-f", str(DOCKERFILE), "-t", self.tag,
                        str(ROOT)], check=True, stdout=subprocess.DEVNULL)
        variables = [arg for name, value in {**environment, "NOTIFIER_PORT": str(port)}.items()
                     for arg in ("-e", f"{name}={value}")]
        self.container = subprocess.run(
            ["docker", "run", "-d", "--rm", "--network", "host", *variables, self.tag],
            check=True, capture_output=True, text=True).stdout.strip()
        services.wait_until_listening(_Running(), port, "the notifier container", timeout=60)

    def output(self):
        return subprocess.run(["docker", "logs", self.container], capture_output=True,
                              text=True).stdout

    def stop(self):
        if self.container:
            subprocess.run(["docker", "stop", self.container], stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "rmi", "-f", self.tag], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


class _Running:
    def poll(self):
        return None


def _docker_engine():
    return shutil.which("docker") and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="module", params=["virtualenv", "docker"])
def image(request, packaged, backing, logs, tmp_path_factory):
    if request.param == "docker" and not _docker_engine():
        pytest.skip("no Docker engine answers `docker info`")
    cache = services.start_redis(logs)
    redis.Redis(port=cache.port).config_set("requirepass", REDIS_AUTH_TOKEN)
    environment = task_environment(packaged, {
        "JWT_SECRET": JWT_SECRET, "MONGODB_URI": backing["mongo"].url,
        "REDIS_AUTH_TOKEN": REDIS_AUTH_TOKEN}, cache.port)
    kind = VirtualenvImage if request.param == "virtualenv" else DockerImage
    running = kind(Dockerfile(), tmp_path_factory.mktemp("image"))
    port = services.free_port()
    try:
        running.start(environment, port)
        yield {"url": f"http://127.0.0.1:{port}", "redis": cache, "stage": environment["STAGE"],
               "environment": environment, "output": running.output}
    finally:
        running.stop()
        cache.stop()


def _user(image):
    """A user whose token is of the task's stage, as its API would issue it."""
    current = settings.get()
    settings.use(dataclasses.replace(current, stage=image["stage"]))
    try:
        return auth.register({"name": "Image", "email": f"image-{uuid.uuid4().hex}@example.com",
                              "password": "password123"}, "127.0.0.1")
    finally:
        settings.use(current)


def test_the_image_answers_its_health_check(image):
    response = requests.get(f"{image['url']}/health", timeout=5)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_image_accepts_a_socket_from_the_stage_origin(image):
    client = socketio.Client(reconnection=False,
                             websocket_extra_options={"origin": DEPLOYED_ORIGIN})
    try:
        client.connect(image["url"], auth={"token": _user(image)["token"]},
                       transports=["websocket"], wait_timeout=5)
        assert client.connected
    finally:
        client.disconnect()


def test_the_image_relays_an_event_published_through_redis(image):
    user = _user(image)
    listener = Listener(image["url"], user["token"]).connect()
    payload = {"jobId": str(uuid.uuid4()), "userId": user["_id"], "status": "completed",
               "generatedContent": "From Redis"}
    try:
        emitter = socketio.RedisManager(image["redis"].url, write_only=True,
                                        redis_options={"password": REDIS_AUTH_TOKEN})
        emitter.emit("job_completed", payload, room=notify.room(payload["userId"]))
        assert listener.event_for(payload["jobId"], timeout=10) == payload
    finally:
        listener.close()


def test_the_image_publishes_its_sockets_under_the_name_the_template_gives(image):
    # The first count, at start, before any socket.
    record = published(image["output"], "SocketsHeld", 0)
    assert record["ServiceName"] == image["environment"]["NOTIFIER_SERVICE_NAME"]
    assert record["ServiceName"].endswith("-notifier")
