"""`job_progress` through the real Redis the notifiers listen on: the text so
far, to the owner's room, at a bounded rate and once more at the end."""
import json
import time
import uuid

import pytest
import redis

from chalicelib import notify


@pytest.fixture
def published(backing):
    """The job_progress events of one job, as the notifiers receive them."""
    subscriber = redis.Redis.from_url(backing["redis"].url).pubsub()
    subscriber.subscribe("socketio")
    subscriber.get_message(timeout=2)
    job_id = str(uuid.uuid4())

    def read():
        events = []
        while (message := subscriber.get_message(timeout=0.5)) is not None:
            data = json.loads(message["data"])
            if data.get("event") == "job_progress" and data["data"][0]["jobId"] == job_id:
                events.append((data["room"], data["data"][0]))
        return events

    yield job_id, read
    subscriber.close()


def test_the_first_text_is_emitted_at_once_to_the_owners_room(published):
    job_id, read = published
    assert notify.Progress(job_id, "u1").update("Hel") is True
    assert read() == [("user:u1", {"jobId": job_id, "userId": "u1", "text": "Hel"})]


def test_text_within_the_interval_waits_and_finish_sends_the_latest(published):
    job_id, read = published
    progress = notify.Progress(job_id, "u1")
    progress.update("a")
    assert progress.update("ab") is False
    assert progress.update("abc") is False
    progress.finish()
    assert [event["text"] for _, event in read()] == ["a", "abc"]


def test_a_fast_stream_is_relayed_at_most_once_per_interval(published):
    job_id, read = published
    progress = notify.Progress(job_id, "u1")
    started = time.monotonic()
    text = ""
    while time.monotonic() - started < 1.0:
        text += "x"
        progress.update(text)
        time.sleep(0.01)
    progress.finish()
    texts = [event["text"] for _, event in read()]
    assert len(texts) <= 1.0 / notify.PROGRESS_INTERVAL_SECONDS + 2
    assert texts[-1] == text


def test_finish_does_not_repeat_text_already_sent(published):
    job_id, read = published
    progress = notify.Progress(job_id, "u1")
    progress.update("done")
    progress.finish()
    assert [event["text"] for _, event in read()] == ["done"]
