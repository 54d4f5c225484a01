"""Each default is written once, in chalicelib/settings.py; what else names
one is checked against it. A deployed function's secret is read through the
Parameters and Secrets Extension's interface on a real socket, and read
again once its refresh interval has passed."""
import re
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from chalicelib import settings
from devstack.aws.secrets_extension import SecretsExtension

ROOT = Path(__file__).resolve().parent.parent


def readme_rows():
    """The README's settings table: (names, default cell) of each row."""
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            yield re.findall(r"`([A-Z_]+)`", cells[0]), cells[1]


def test_the_readmes_table_gives_each_numbers_default_and_bounds_as_settings_do():
    checked = set()
    for names, cell in readme_rows():
        numbers = [name for name in names if name in settings.NUMBERS]
        if not numbers:
            continue
        written = re.findall(r"`([\d.]+)`", cell)
        assert written == [f"{settings.NUMBERS[name][0]:g}" for name in numbers], names
        bounds = re.search(r"\((\d+)–(\d+)\)", cell)
        if bounds:
            assert [tuple(map(int, bounds.groups()))] == \
                [settings.NUMBERS[name][1:] for name in numbers], names
        checked.update(numbers)
    assert checked == set(settings.NUMBERS)


def test_the_longest_generation_delay_is_sqss():
    assert settings.NUMBERS["GENERATION_DELAY_SECONDS"][2] == settings.MAX_DELAY_SECONDS == 900


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stage/JWT_SECRET-a1b2c3"
SESSION_TOKEN = "the-functions-session-token"
CURRENT = "the-jwt-secret-in-use-before-its-rotation"
ROTATED = "the-jwt-secret-that-rotation-made-current"
REFRESH_SECONDS = 0.5


class SecretStore:
    """Secrets Manager as the extension reads it: one secret, which an
    operator rotates, and which may be unreadable for a while (throttled)."""

    def __init__(self, value):
        self.value, self.failing, self.reads = value, False, 0

    def get_secret_value(self, SecretId):
        self.reads += 1
        if self.failing:
            raise ClientError({"Error": {"Code": "ThrottlingException",
                                         "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetSecretValue")
        return {"ARN": SecretId, "Name": "stage/JWT_SECRET", "SecretString": self.value}


@pytest.fixture
def secret(monkeypatch):
    """A function's environment as the template gives it (the secret's ARN,
    not the secret) beside the extension, from a cold start."""
    previous = settings.get()
    store = SecretStore(CURRENT)
    extension = SecretsExtension(SESSION_TOKEN, store.get_secret_value)
    monkeypatch.setattr(settings, "SECRET_REFRESH_SECONDS", REFRESH_SECONDS)
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.setenv("JWT_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(extension.port))
    settings.use(None)
    yield store
    settings.use(previous)
    extension.stop()


def test_a_rotated_secret_is_used_once_the_refresh_interval_has_passed(secret):
    first = settings.get().jwt_secret
    secret.value = ROTATED
    within_the_interval = settings.get().jwt_secret
    time.sleep(REFRESH_SECONDS)
    assert (first, within_the_interval, settings.get().jwt_secret) == (CURRENT, CURRENT, ROTATED)
    assert secret.reads == 2


def test_a_refresh_that_fails_keeps_the_secret_in_use(secret):
    first = settings.get().jwt_secret
    secret.failing = True
    time.sleep(REFRESH_SECONDS)
    assert (first, settings.get().jwt_secret) == (CURRENT, CURRENT)
    assert secret.reads == 2
