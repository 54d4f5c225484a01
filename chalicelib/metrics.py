"""What an on-call engineer counts: jobs by outcome, AI latency and cost, and
requests refused for limits. In Lambda each is one line of CloudWatch
Embedded Metric Format (Powertools), which CloudWatch turns into a metric
with the stage (and, for refusals, the source) as dimensions; elsewhere it is
a DEBUG log line, so a terminal is not flooded with JSON. The notifier's
sockets are EMF wherever it runs: the service scales on them."""
import logging
import sys

from chalicelib import settings

log = logging.getLogger(__name__)

NAMESPACE = "AIContentGenerator"
FINISHED = {"completed": "JobsCompleted", "failed": "JobsFailed", "error": "JobsErrored"}


def job_queued():
    _emit("JobsQueued", "Count", 1)


def job_finished(status: str):
    """A job reached `completed`, `failed` (the AI's failure) or `error` (a
    system fault: queueing failed, or the message was dead-lettered)."""
    _emit(FINISHED[status], "Count", 1)


def dead_lettered():
    _emit("JobsDeadLettered", "Count", 1)


def swept():
    _emit("JobsSwept", "Count", 1)


def ai_call(latency_seconds: float, cost=None):
    """One successful AI call; `cost` is OpenRouter's `usage.cost`, in
    credits (US dollars), when the response carries it."""
    _emit("AILatency", "Milliseconds", latency_seconds * 1000)
    if cost is not None:
        _emit("AICost", "None", cost)


def throttled(source: str):
    """A 429: `limits` when this service refused a user, `openrouter` when
    OpenRouter refused us."""
    _emit("Throttled", "Count", 1, source=source)


def sockets_held(count: int, service: str):
    """The sockets one notifier process holds. Its container's log driver
    sends stdout to CloudWatch Logs, which reads EMF there as from a Lambda,
    and the ECS service scales on the average per task (infra/template.yml),
    so the dimension is the service's name alone."""
    _print("SocketsHeld", "Count", count, {"ServiceName": service})


def _emit(name, unit, value, **dimensions):
    dimensions = {"stage": settings.get().stage, **dimensions}
    if not settings.in_lambda():
        log.debug("metric %s=%s %s %s", name, value, unit, dimensions)
        return
    _print(name, unit, value, dimensions)


def _print(name, unit, value, dimensions):
    """One EMF line on stdout, flushed at once: a container's stdout is a
    pipe, where Python would hold it in its buffer."""
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE,
                       default_dimensions=dimensions):
        pass
    sys.stdout.flush()
