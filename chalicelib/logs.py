"""Log lines that name what they are about: each carries the function, the
request id and, once known, the `jobId` and `userId`. In Lambda they are JSON
(Powertools' formatter), which CloudWatch Logs Insights queries by key;
elsewhere the same lines stay readable text.

Modules keep `logging.getLogger(__name__)`: the keys and the format are
added here, on the root logger, once. Messages never carry a token, a
password hash or an API key; nothing here adds one."""
import contextvars
import logging
import sys

from chalicelib import settings

SERVICE = "ai-content-generator"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TEXT_KEYS = ("jobId", "userId")

# Per invocation, and per worker thread for a batch's records.
_keys = contextvars.ContextVar("log_keys", default={})


def configure(json_lines: bool):
    """Send the root logger's lines to stdout, as JSON or as text. In Lambda
    this replaces the runtime's own handler, which would print each line a
    second time; a local runner calls it with json_lines=False."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonFormatter() if json_lines else _TextFormatter())
    handler.addFilter(_add_keys)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_level())


def _level():
    """The settings' level. Invalid settings are reported by the first
    request (or `make run`), which builds them again; until then, INFO."""
    try:
        return settings.get().log_level
    except settings.SettingsError:
        return "INFO"


def bind(context=None, **keys):
    """Start an invocation's (or a record's) keys afresh: the Lambda
    context's function name and request id, and `keys`."""
    fresh = {"function_name": getattr(context, "function_name", None),
             "function_request_id": getattr(context, "aws_request_id", None)}
    _keys.set({name: value for name, value in {**fresh, **keys}.items() if value is not None})


def add(**keys):
    """Add keys to the current invocation's lines; a None value removes one."""
    current = {**_keys.get(), **keys}
    _keys.set({name: value for name, value in current.items() if value is not None})


def middleware(event, get_response):
    """Chalice middleware for every function: an HTTP request carries its
    Lambda context as `lambda_context`, other events as `context`."""
    bind(getattr(event, "lambda_context", None) or getattr(event, "context", None))
    return get_response(event)


def _add_keys(record):
    for name, value in _keys.get().items():
        setattr(record, name, value)
    return True


class _TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record):
        line = super().format(record)
        keys = " ".join(f"{name}={getattr(record, name)}" for name in TEXT_KEYS
                        if hasattr(record, name))
        return f"{line} [{keys}]" if keys else line


class _JsonFormatter(logging.Formatter):
    """Powertools' formatter, imported on the first line rather than at
    start: most cold starts log nothing, and the import costs ~10 ms."""

    def __init__(self):
        super().__init__()
        self._powertools = None

    def format(self, record):
        if self._powertools is None:
            from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
            self._powertools = LambdaPowertoolsFormatter(service=SERVICE)
        return self._powertools.format(record)
