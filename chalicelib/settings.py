"""The one place configuration is read from the environment.

`get()` builds and validates the settings on first use, so importing the app
does no work and a bad setting stops the first request (or `make run`) with
one clear line. The local runner and the benchmarks build theirs with
`from_env` and install them with `use`, instead of writing the environment.

Deployed functions get their secrets' ARNs (JWT_SECRET_ARN, ...), never
the secrets: `{{resolve:secretsmanager:...}}` in a function's environment would
be written into its configuration in plain text. They read each secret once
per container, at the first request, through the Parameters and Secrets
Lambda Extension's local port (the standard library, so no boto3 at cold
start), and again every SECRET_REFRESH_SECONDS so a rotation is picked up.
"""
import http.client
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

DEFAULT_CORS_ORIGIN = "http://localhost:3000"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
INSTRUCTIONS_ROLES = ("system", "user")
# Each may be given as NAME (local runs) or as NAME_ARN, a Secrets Manager
# secret whose string is the value.
SECRET_NAMES = ("JWT_SECRET", "MONGODB_URI", "OPENROUTER_API_KEY", "REDIS_AUTH_TOKEN")
SECRET_REFRESH_SECONDS = 300
EXTENSION_PORT = 2773

log = logging.getLogger(__name__)

# SQS's longest DelaySeconds.
MAX_DELAY_SECONDS = 900

# Each number's default and bounds, written once: infra/topology.py gives
# them to the template parameter a function's variable is set from, and the
# README's settings table is checked against them.
NUMBERS = {
    "PORT": (5000, 1, 65535),
    "NOTIFIER_PORT": (5001, 1, 65535),
    "GENERATION_DELAY_SECONDS": (60, 0, MAX_DELAY_SECONDS),
    "OPENROUTER_TIMEOUT_SECONDS": (30.0, 1, 600),
    "OPENROUTER_PRICE_PER_MILLION_TOKENS": (0.0, 0, 10000),
    # At most what the 6 MB bound allows (openrouter.MAX_TEXT_CHARACTERS).
    "OPENROUTER_MAX_TOKENS": (1200, 1, 2000),
    "CLAIM_LEASE_SECONDS": (300, 5, 3600),
    "BCRYPT_ROUNDS": (12, 4, 15),
    "STALE_JOB_SECONDS": (900, 1, 86400),
    "MAX_ACTIVE_JOBS_PER_USER": (5, 1, 1000),
    "MAX_JOBS_PER_DAY": (100, 1, 100000),
    "LOGIN_MAX_FAILURES": (5, 1, 1000),
    "LOGIN_MAX_FAILURES_PER_EMAIL": (100, 1, 100000),
    "LOGIN_LOCKOUT_SECONDS": (900, 1, 86400),
    "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": (30, 1, 1000000),
    "REGISTRATIONS_PER_IP_PER_MINUTE": (30, 1, 1000000),
    "MAX_JOBS_PER_ADDRESS_PER_DAY": (300, 1, 10000000),
    "MAX_SERVICE_JOBS_PER_DAY": (20000, 1, 100000000),
    "MAX_SERVICE_COST_PER_DAY": (50.0, 0, 1000000),
    "MAX_COST_PER_USER_PER_MONTH": (2.0, 0, 100000),
    "NOTIFIER_CONNECT_TIMEOUT_SECONDS": (5, 1, 60),
    "NOTIFIER_MAX_SOCKETS_PER_USER": (10, 1, 10000),
    "NOTIFIER_MAX_SOCKETS_PER_ADDRESS": (100, 1, 1000000),
    "NOTIFIER_MAX_PACKET_BYTES": (4096, 1024, 1000000),
    "NOTIFIER_TRUSTED_PROXIES": (0, 0, 5),
    "NOTIFIER_METRICS_SECONDS": (60, 1, 3600),
    "CATCH_UPS_PER_USER_PER_MINUTE": (10, 1, 10000),
    "PASSWORD_RESETS_PER_IP_PER_MINUTE": (10, 1, 1000000),
    "PASSWORD_RESETS_PER_EMAIL_PER_HOUR": (3, 1, 1000),
    "PASSWORD_RESET_LINK_SECONDS": (1800, 1, 86400),
    # Storage and lists (chalicelib/storage.py, retention.py, pages.py): at
    # these defaults the unpaged lists stay far below a 6 MB Lambda answer.
    "MAX_LIBRARY_ITEMS_PER_USER": (1000, 1, 100000),
    "MAX_LIBRARY_CHARACTERS_PER_USER": (500000, 1, 100000000),
    "MAX_FINISHED_JOBS_PER_USER": (20, 1, 10000),
    "FINISHED_JOB_RETENTION_DAYS": (31, 1, 3650),
    "MAX_PAGE_ITEMS": (100, 1, 1000),
}


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    stage: str
    host: str
    port: int
    notifier_port: int
    mongodb_uri: Optional[str]
    mongodb_db: str
    jwt_secret: Optional[str]
    cors_origin: str
    log_level: str
    generation_delay_seconds: int
    aws_region: str
    sqs_endpoint_url: Optional[str]
    jobs_queue_name: Optional[str]
    redis_url: Optional[str]
    redis_auth_token: Optional[str]
    openrouter_api_key: Optional[str]
    openrouter_base_url: str
    openrouter_models: tuple
    openrouter_timeout_seconds: float
    openrouter_instructions_role: str
    openrouter_price_per_million_tokens: float
    openrouter_max_tokens: int
    claim_lease_seconds: int
    bcrypt_rounds: int
    stale_job_seconds: int
    max_active_jobs_per_user: int
    max_jobs_per_day: int
    login_max_failures: int
    login_max_failures_per_email: int
    login_lockout_seconds: int
    login_attempts_per_ip_per_minute: int
    registrations_per_ip_per_minute: int
    max_jobs_per_address_per_day: int
    max_service_jobs_per_day: int
    max_service_cost_per_day: float
    max_cost_per_user_per_month: float
    notifier_connect_timeout_seconds: int
    notifier_max_sockets_per_user: int
    notifier_max_sockets_per_address: int
    notifier_max_packet_bytes: int
    notifier_trusted_proxies: int
    notifier_metrics_seconds: int
    notifier_service_name: str
    catch_ups_per_user_per_minute: int
    password_resets_per_ip_per_minute: int
    password_resets_per_email_per_hour: int
    password_reset_link_seconds: int
    max_library_items_per_user: int
    max_library_characters_per_user: int
    max_finished_jobs_per_user: int
    finished_job_retention_days: int
    max_page_items: int
    mail_from: Optional[str]
    smtp_url: Optional[str]
    client_url: str

    @property
    def offline_ai(self) -> bool:
        """OpenRouter itself needs a key; another OpenAI-compatible server
        (a local model, a test fake) may not."""
        return not self.openrouter_api_key and self.openrouter_base_url == OPENROUTER_URL

    def require(self, name: str):
        """A setting only some functions read (a secret, the job queue): each
        function's environment carries only its own, so the one that reads it
        asks for it here."""
        value = getattr(self, name)
        if value is None:
            raise SettingsError(f"{name.upper()} must be set")
        return value


def cors_origin(env) -> str:
    """Only the local stage has a default; elsewhere a frontend on another
    origin would be refused."""
    origin = env.get("CORS_ORIGIN")
    if origin:
        return origin
    if env.get("STAGE", "local") == "local":
        return DEFAULT_CORS_ORIGIN
    raise SettingsError("CORS_ORIGIN must be set outside the local stage")


def in_lambda(env=os.environ) -> bool:
    """Read at import: in Lambda, log lines and metrics are JSON for
    CloudWatch; elsewhere they are text for a terminal."""
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))


_current = None
# When the settings built from a secret are read again (None: never).
_refresh_at = None
_lock = threading.Lock()


def get() -> Settings:
    """The settings in use: those `use` installed, or else the environment's
    (with its secret, read again once SECRET_REFRESH_SECONDS have passed)."""
    global _current, _refresh_at
    if _current is None or (_refresh_at is not None and time.monotonic() >= _refresh_at):
        with _lock:
            if _current is None or (_refresh_at is not None
                                    and time.monotonic() >= _refresh_at):
                _current, _refresh_at = _load(_current)
    return _current


def _load(current):
    refresh_at = (time.monotonic() + SECRET_REFRESH_SECONDS
                  if any(os.environ.get(f"{name}_ARN") for name in SECRET_NAMES) else None)
    try:
        return from_env(os.environ), refresh_at
    except SettingsError as error:
        if current is None:
            raise
        # A rotation in progress, a throttled read: the secret in use still
        # works until the old version is retired.
        log.warning("settings not refreshed, keeping the current ones: %s", error)
        return current, refresh_at


def use(config: Optional[Settings]) -> Optional[Settings]:
    """Make `config` the settings of this process (None: the environment's,
    read at the next `get`, as at a cold start). Clients are cached per the
    settings they were built from, so the next call builds new ones."""
    global _current, _refresh_at
    _current, _refresh_at = config, None
    return config


def secret_values(env) -> dict:
    """{NAME: value} for each secret whose ARN the environment gives as
    NAME_ARN and whose value it does not give itself (local runs do)."""
    return {name: _read_secret(env[f"{name}_ARN"], env) for name in SECRET_NAMES
            if env.get(f"{name}_ARN") and not env.get(name)}


def _read_secret(arn, env):
    """Through the extension's local port, with the token it asks for (the
    function's session token)."""
    port = int(env.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") or EXTENSION_PORT)
    connection = http.client.HTTPConnection("localhost", port, timeout=5)
    try:
        connection.request("GET", f"/secretsmanager/get?secretId={quote(arn, safe='')}",
                           headers={"X-Aws-Parameters-Secrets-Token":
                                    env.get("AWS_SESSION_TOKEN", "")})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SettingsError(f"{arn} could not be read: the secrets extension "
                                f"answered {response.status}")
        return json.loads(body)["SecretString"]
    except (OSError, ValueError, KeyError) as error:
        raise SettingsError(f"{arn} could not be read: {type(error).__name__}") from None
    finally:
        connection.close()


def from_env(env) -> Settings:
    env = {**secret_values(env), **env}
    stage = env.get("STAGE", "local")
    jwt_secret = env.get("JWT_SECRET") or None
    if jwt_secret is not None and len(jwt_secret) < 32:
        raise SettingsError("JWT_SECRET must be at least 32 characters "
                            "(make run generates one for the local stage)")
    log_level = (env.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return Settings(
        stage=stage,
        host=env.get("HOST") or "127.0.0.1",
        port=_number(env, "PORT"),
        notifier_port=_number(env, "NOTIFIER_PORT"),
        mongodb_uri=env.get("MONGODB_URI") or None,
        mongodb_db=env.get("MONGODB_DB") or "ai_content",
        jwt_secret=jwt_secret,
        cors_origin=cors_origin(env),
        log_level=log_level,
        generation_delay_seconds=_number(env, "GENERATION_DELAY_SECONDS"),
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        sqs_endpoint_url=(env.get("SQS_ENDPOINT_URL")
                          or env.get("AWS_ENDPOINT_URL_SQS") or None),
        jobs_queue_name=env.get("JOBS_QUEUE_NAME") or None,
        redis_url=env.get("REDIS_URL") or None,
        redis_auth_token=env.get("REDIS_AUTH_TOKEN") or None,
        openrouter_api_key=env.get("OPENROUTER_API_KEY") or None,
        openrouter_base_url=(env.get("OPENROUTER_BASE_URL")
                             or OPENROUTER_URL).rstrip("/"),
        openrouter_models=_models(env),
        openrouter_timeout_seconds=_number(env, "OPENROUTER_TIMEOUT_SECONDS"),
        openrouter_instructions_role=_choice(env, "OPENROUTER_INSTRUCTIONS_ROLE",
                                             INSTRUCTIONS_ROLES),
        openrouter_price_per_million_tokens=_number(env, "OPENROUTER_PRICE_PER_MILLION_TOKENS"),
        openrouter_max_tokens=_number(env, "OPENROUTER_MAX_TOKENS"),
        claim_lease_seconds=_number(env, "CLAIM_LEASE_SECONDS"),
        bcrypt_rounds=_number(env, "BCRYPT_ROUNDS"),
        stale_job_seconds=_number(env, "STALE_JOB_SECONDS"),
        max_active_jobs_per_user=_number(env, "MAX_ACTIVE_JOBS_PER_USER"),
        max_jobs_per_day=_number(env, "MAX_JOBS_PER_DAY"),
        login_max_failures=_number(env, "LOGIN_MAX_FAILURES"),
        login_max_failures_per_email=_number(env, "LOGIN_MAX_FAILURES_PER_EMAIL"),
        login_lockout_seconds=_number(env, "LOGIN_LOCKOUT_SECONDS"),
        login_attempts_per_ip_per_minute=_number(env, "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE"),
        registrations_per_ip_per_minute=_number(env, "REGISTRATIONS_PER_IP_PER_MINUTE"),
        max_jobs_per_address_per_day=_number(env, "MAX_JOBS_PER_ADDRESS_PER_DAY"),
        max_service_jobs_per_day=_number(env, "MAX_SERVICE_JOBS_PER_DAY"),
        max_service_cost_per_day=_number(env, "MAX_SERVICE_COST_PER_DAY"),
        max_cost_per_user_per_month=_number(env, "MAX_COST_PER_USER_PER_MONTH"),
        notifier_connect_timeout_seconds=_number(env, "NOTIFIER_CONNECT_TIMEOUT_SECONDS"),
        notifier_max_sockets_per_user=_number(env, "NOTIFIER_MAX_SOCKETS_PER_USER"),
        notifier_max_sockets_per_address=_number(env, "NOTIFIER_MAX_SOCKETS_PER_ADDRESS"),
        notifier_max_packet_bytes=_number(env, "NOTIFIER_MAX_PACKET_BYTES"),
        notifier_trusted_proxies=_number(env, "NOTIFIER_TRUSTED_PROXIES"),
        notifier_metrics_seconds=_number(env, "NOTIFIER_METRICS_SECONDS"),
        notifier_service_name=env.get("NOTIFIER_SERVICE_NAME") or "notifier",
        catch_ups_per_user_per_minute=_number(env, "CATCH_UPS_PER_USER_PER_MINUTE"),
        password_resets_per_ip_per_minute=_number(env, "PASSWORD_RESETS_PER_IP_PER_MINUTE"),
        password_resets_per_email_per_hour=_number(env, "PASSWORD_RESETS_PER_EMAIL_PER_HOUR"),
        password_reset_link_seconds=_number(env, "PASSWORD_RESET_LINK_SECONDS"),
        max_library_items_per_user=_number(env, "MAX_LIBRARY_ITEMS_PER_USER"),
        max_library_characters_per_user=_number(env, "MAX_LIBRARY_CHARACTERS_PER_USER"),
        max_finished_jobs_per_user=_number(env, "MAX_FINISHED_JOBS_PER_USER"),
        finished_job_retention_days=_number(env, "FINISHED_JOB_RETENTION_DAYS"),
        max_page_items=_number(env, "MAX_PAGE_ITEMS"),
        mail_from=env.get("MAIL_FROM") or None,
        smtp_url=env.get("SMTP_URL") or None,
        # Where the web client is, for the links mail carries: the hosted
        # client's origin unless it is served elsewhere.
        client_url=(env.get("CLIENT_URL") or cors_origin(env)).rstrip("/"),
    )


def _models(env):
    """OPENROUTER_MODELS, first the primary then its fallbacks; else the one
    OPENROUTER_MODEL."""
    raw = env.get("OPENROUTER_MODELS")
    if not raw:
        return (env.get("OPENROUTER_MODEL") or "openai/gpt-4o-mini",)
    models = tuple(name.strip() for name in raw.split(","))
    if not all(models):
        raise SettingsError(f"OPENROUTER_MODELS must be model names separated by commas, "
                            f"got {raw!r}")
    return models


def _choice(env, name, choices):
    """One of `choices`, the first by default."""
    value = env.get(name) or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _number(env, name):
    default, low, high = NUMBERS[name]
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw}")
    return value
