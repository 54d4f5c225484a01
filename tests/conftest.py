"""The fixtures every test module shares. Those that own real servers:
MongoDB wire protocol (secantusdb), Redis, SQS (moto_server), a fake
OpenRouter on loopback, and the whole local stack (`python -m devstack`) as a
child process, all on free ports."""
import os

import pytest

from chalicelib import settings
from devstack import services
from devstack.services import StackProcess
from tests.support import AWS_STAGES, DEPLOYED_ORIGIN, JWT_SECRET, STAGES
from tests.support.client import Client
from tests.support.fake_openrouter import API_KEY, FakeOpenRouter
from tests.support.listener import Listener
from tests.support.web import CHROMIUM, TIMEOUT_MS


def pytest_configure(config):
    # The in-process parts (worker, clients) read the same settings as the
    # stack under test; the real values arrive with the `backing` fixture.
    os.environ.update({"STAGE": "test", "JWT_SECRET": JWT_SECRET, "BCRYPT_ROUNDS": "4",
                       "CORS_ORIGIN": "http://localhost:3000",
                       "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_REGION": "us-east-1", "OPENROUTER_API_KEY": API_KEY,
                       # In-process worker tests get a queue of their own (see
                       # INPROCESS_QUEUES), so the stack's pollers never take their
                       # messages; the stacks name theirs from the topology.
                       "JOBS_QUEUE_NAME": "inprocess-jobs"})


@pytest.fixture(scope="session")
def packaged():
    """`make package` for each stage, built once a session: {stage: sam.yaml path}."""
    from infra.package import package
    return {stage: package(stage, cors_origin=DEPLOYED_ORIGIN)
            for stage in dict.fromkeys(STAGES + AWS_STAGES)}


@pytest.fixture(scope="session")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def backing(logs):
    """MongoDB, Redis, SQS and the fake OpenRouter for the whole session; the
    stacks under test inherit them through the environment, and the
    in-process parts get them as their settings."""
    started = [services.start_mongo(":memory:", logs, test_commands=True),
               services.start_redis(logs),
               services.start_sqs(logs)]
    mongo, redis, sqs = started
    fake = FakeOpenRouter()
    os.environ.update({"MONGODB_URI": mongo.url, "REDIS_URL": redis.url,
                       "SQS_ENDPOINT_URL": sqs.url, "OPENROUTER_BASE_URL": fake.url})
    settings.use(settings.from_env(os.environ))
    yield {"mongo": mongo, "redis": redis, "sqs": sqs, "openrouter": fake}
    fake.stop()
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def openrouter(backing):
    return backing["openrouter"]


@pytest.fixture(scope="session")
def stack_env(backing, openrouter):
    # The suite registers, logs in and submits for many users from
    # 127.0.0.1; the per-address caps are tested on stacks of their own.
    return {"GENERATION_DELAY_SECONDS": "2", "OPENROUTER_TIMEOUT_SECONDS": "5",
            "LOG_LEVEL": "INFO", "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "100000",
            "REGISTRATIONS_PER_IP_PER_MINUTE": "100000",
            "MAX_JOBS_PER_ADDRESS_PER_DAY": "10000000",
            "PASSWORD_RESETS_PER_IP_PER_MINUTE": "100000"}


@pytest.fixture(scope="session")
def stack(stack_env, tmp_path_factory):
    running = StackProcess(stack_env, tmp_path_factory.mktemp("stack") / "stack.log").start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api(stack):
    return Client(stack.url)


@pytest.fixture
def user(api):
    return api.register()


@pytest.fixture
def other_user(api):
    return api.register(name="Someone Else")


@pytest.fixture
def listen(stack):
    opened = []

    def open_listener(token, url=None, **options):
        listener = Listener(url or stack.url, token, **options).connect()
        opened.append(listener)
        return listener

    yield open_listener
    for listener in opened:
        listener.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium "
                    "when it runs as root with apt-get)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update"])
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser, stack):
    contexts = []

    def open_page():
        context = browser.new_context(base_url=stack.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        return page

    yield open_page
    for context in contexts:
        context.close()
