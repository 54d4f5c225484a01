"""Emits `job_completed` to a user's sockets through Redis, where every
notifier process is listening."""
import functools
import logging

from chalicelib import settings

log = logging.getLogger(__name__)


def room(user_id: str) -> str:
    return f"user:{user_id}"


@functools.lru_cache(maxsize=1)
def _emitter():
    import socketio  # only the worker emits; kept out of the API's cold start

    # Short timeouts: an unreachable Redis must cost the worker seconds, not
    # hang it; the result is in MongoDB either way.
    config = settings.get()
    return socketio.RedisManager(config.redis_url, write_only=True, logger=log,
                                 redis_options={"socket_connect_timeout": 2,
                                                "socket_timeout": 2,
                                                "password": config.redis_auth_token})


def job_completed(payload: dict) -> bool:
    """Emit the event; a Redis failure is logged and never fails the job,
    since the job document already holds the result."""
    if not settings.get().redis_url:
        log.warning("REDIS_URL is not set; job_completed for %s not emitted", payload["jobId"])
        return False
    try:
        _emitter().emit("job_completed", payload, room=room(payload["userId"]))
        return True
    except Exception:
        log.exception("could not emit job_completed for job %s", payload["jobId"])
        return False
