"""The hosted web client, as `make deploy` publishes it, in a real browser
through the distribution's one-origin routing (devstack/aws/cloudfront.py):
the client's files from the bucket with the response headers policy, the
API's routes to the gateway and /socket.io/* to the notifier, all of the
packaged template running in the deployed-shape harness."""
import re
from urllib.parse import urlsplit

import pytest
import redis
import requests
import yaml

from devstack import services
from devstack.aws.cloudfront import Distribution
from infra import publish_web
from devstack.aws.harness import Deployment
from tests.support.fake_openrouter import API_KEY
from tests.support.web import TIMEOUT_MS, generate, register

JWT_SECRET = "the-hosted-stage-secret-which-differs-from-the-tests"
REDIS_AUTH_TOKEN = "the-hosted-elasticache-auth-token"


@pytest.fixture(scope="module")
def site(packaged, backing, openrouter, logs, tmp_path_factory):
    work = tmp_path_factory.mktemp("hosted")
    port = services.free_port()
    origin = f"http://127.0.0.1:{port}"
    cache = services.start_redis(logs)
    redis.Redis(port=cache.port).config_set("requirepass", REDIS_AUTH_TOKEN)
    # The site's origin is the stage's CorsOrigin, as WebURL is in AWS.
    deployment = Deployment(
        packaged["dev"], work,
        parameters={"CorsOrigin": origin, "JobsQueueName": "hosted-jobs",
                    "DeadLetterQueueName": "hosted-dlq", "GenerationDelaySeconds": "2",
                    "OpenRouterBaseUrl": openrouter.url, "MailIdentity": "example.test",
                    "MailFrom": "no-reply@example.test"},
        secrets={"JWT_SECRET": JWT_SECRET, "MONGODB_URI": backing["mongo"].url,
                 "OPENROUTER_API_KEY": API_KEY, "REDIS_AUTH_TOKEN": REDIS_AUTH_TOKEN},
        redis_port=cache.port)
    distribution = None
    try:
        deployment.start()
        gateway = urlsplit(deployment.url)
        bucket = {key: (body, kind, cache_control) for key, body, kind, cache_control
                  in publish_web.files(origin)}
        distribution = Distribution(yaml.safe_load(packaged["dev"].read_text()), {
            "web": bucket, "api": f"{gateway.scheme}://{gateway.netloc}",
            "notifier": deployment.notifier_url}, port=port)
        yield distribution
    finally:
        if distribution:
            distribution.stop()
        deployment.stop()
        cache.stop()


def test_the_client_is_served_with_its_content_type_cache_and_security_headers(site):
    page = requests.get(site.url + "/", timeout=10)
    script = requests.get(site.url + "/app.js", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert (script.headers["Content-Type"], script.headers["Cache-Control"]) == (
        "text/javascript; charset=utf-8", "public, max-age=3600")


def test_config_js_names_the_sites_own_origin(site):
    body = requests.get(site.url + "/config.js", timeout=10).text
    assert f'apiUrl: "{site.url}"' in body and f'socketUrl: "{site.url}"' in body


def test_the_apis_routes_are_the_gateways_on_the_same_origin(site):
    response = requests.get(site.url + "/auth/me", timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}
    assert "Content-Security-Policy" not in response.headers



@pytest.fixture
def hosted_page(browser, site):
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto("/")
    yield page, violations
    context.close()


def test_the_hosted_client_generates_over_the_socket_and_saves(hosted_page):
    page, violations = hosted_page
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    job = generate(page, "Hosted water bottle")
    job.locator(".status", has_text=re.compile(r"Starting in \d+ s")).wait_for()
    job.locator(".status.completed").wait_for()
    assert "Content about: Hosted water bottle" in job.locator(".markdown").inner_text()
    job.get_by_label("Title (optional)").fill("Hosted copy")
    job.get_by_role("button", name="Save to library").click()
    job.get_by_text("Saved to your library.").wait_for()
    page.locator("#library .item", has_text="Hosted copy").wait_for()
    assert violations == []
