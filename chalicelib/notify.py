"""Emits `job_completed` and `job_progress` to a user's sockets through
Redis, where every notifier process is listening."""
import logging
import time

from chalicelib import contract, settings
from chalicelib.threadsafe import once

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.25
# A control message to the notifiers, on the channel the events use.
SESSIONS_ENDED = "_sessions_ended"


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
    emitted = _emit("job_completed", payload)
    if emitted:
        log.info("job %s: job_completed emitted to %s", payload["jobId"],
                 room(payload["userId"]))
    return emitted


def _emit(event: str, payload: dict) -> bool:
    return _publish(event, payload, payload["userId"], f"job {payload['jobId']}")


def _publish(event, data, user_id, about) -> bool:
    config = settings.get()
    if not config.redis_url:
        log.warning("REDIS_URL is not set; %s for %s not emitted", event, about)
        return False
    try:
        _emitter(config.redis_url, config.redis_auth_token).emit(event, data, room=room(user_id))
        return True
    except Exception:
        log.exception("could not emit %s for %s", event, about)
        return False


class Progress:
    """`job_progress` {jobId, userId, text} for one job while its text grows:
    at most one event per interval, and the latest text once more by
    `finish`. Partial text is a courtesy: after one failed emit the job's
    progress stops rather than cost the stream a Redis timeout per chunk."""

    def __init__(self, job_id: str, user_id: str, interval=PROGRESS_INTERVAL_SECONDS):
        self.job_id, self.user_id, self.interval = job_id, str(user_id), interval
        self._text, self._sent_text, self._sent_at, self._working = None, None, None, True

    def update(self, text: str) -> bool:
        """Whether this text was emitted now (else it waits for the interval)."""
        self._text = text
        if self._sent_at is not None and time.monotonic() - self._sent_at < self.interval:
            return False
        return self._send()

    def finish(self) -> bool:
        return self._text != self._sent_text and self._send()

    def _send(self) -> bool:
        self._sent_at, self._sent_text = time.monotonic(), self._text
        if self._working:
            self._working = _emit("job_progress", contract.job_progress(
                self.job_id, self.user_id, self._text))
        return True


def sessions_ended(user_id, session: str = None, generation: int = None) -> bool:
    """Tell every notifier process to close the user's sockets opened with
    a token that no longer works: of that `session`, or of a generation
    older than `generation`, or (neither given) all of them. The notifier
    acts on it and never relays it to a socket."""
    data = {"userId": str(user_id), "session": session, "generation": generation}
    return _publish(SESSIONS_ENDED, data, data["userId"], f"the sessions of user {user_id}")
