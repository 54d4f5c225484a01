"""Emits `job_completed` to a user's sockets through Redis, where every
notifier process is listening."""
import logging

from chalicelib import settings
from chalicelib.threadsafe import once

log = logging.getLogger(__name__)


def room(user_id: str) -> str:
    return f"user:{user_id}"


@once
def _emitter(redis_url, auth_token):
    import socketio  # only the worker emits; kept out of the API's cold start

    # Short timeouts: an unreachable Redis must cost the worker seconds, not
    # hang it; the result is in MongoDB either way.
    return socketio.RedisManager(redis_url, write_only=True, logger=log,
                                 redis_options={"socket_connect_timeout": 2,
                                                "socket_timeout": 2,
                                                "password": auth_token})


def job_completed(payload: dict) -> bool:
    """Emit the event; a Redis failure is logged and never fails the job,
    since the job document already holds the result."""
    config = settings.get()
    redis_url = config.redis_url
    if not redis_url:
        log.warning("REDIS_URL is not set; job_completed for %s not emitted", payload["jobId"])
        return False
    try:
        _emitter(redis_url, config.redis_auth_token).emit("job_completed", payload, room=room(payload["userId"]))
        log.info("job %s: job_completed emitted to %s", payload["jobId"],
                 room(payload["userId"]))
        return True
    except Exception:
        log.exception("could not emit job_completed for job %s", payload["jobId"])
        return False
