"""Streamed generation through the whole stack: `job_progress` with the text
so far before the contract's `job_completed`, the result written once, and
what it cost."""
import queue
import time

import pytest

from chalicelib.openrouter import MAX_TEXT_CHARACTERS
from tests.support.fake_openrouter import ENDLESS_WORD
from tests.support.jobs import submit, unique, wait_until_finished


def progress_until(listener, job_id, timeout=20):
    """The job's job_progress texts, up to its job_completed."""
    texts = []
    deadline = time.monotonic() + timeout
    completed = None
    while completed is None:
        completed = next((event for event in drain(listener.events)
                          if event["jobId"] == job_id), None)
        texts += [event["text"] for event in drain(listener.progress)
                  if event["jobId"] == job_id]
        assert time.monotonic() < deadline, f"no job_completed for {job_id}"
        time.sleep(0.05)
    return texts, completed


def drain(events):
    drained = []
    while not events.empty():
        drained.append(events.get())
    return drained


def test_the_text_streams_to_the_owner_before_job_completed(api, user, listen):
    listener = listen(user["token"])
    prompt = unique("[trickle] Streaming bottle")
    queued = submit(api, user, prompt)
    texts, completed = progress_until(listener, queued["jobId"])
    assert len(texts) >= 2
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert texts[-1] == completed["generatedContent"] == \
        f"# Generated\n\nContent about: {prompt}"


@pytest.mark.parametrize("framing", ["chunked", "close-delimited", "http/1.0"])
def test_progress_reaches_the_owner_while_the_stream_is_open(api, user, listen, openrouter,
                                                              framing):
    listener = listen(user["token"])
    prompt = unique(f"[held] [{framing}] Open stream")
    queued = submit(api, user, prompt)
    try:
        progress = listener.progress.get(timeout=20)
    except queue.Empty:
        progress = None
    finally:
        openrouter.release(prompt)
    assert progress == {"jobId": queued["jobId"], "userId": user["_id"], "text": "# "}
    job = wait_until_finished(api, user, queued["jobId"])
    assert job["generatedContent"] == f"# Generated\n\nContent about: {prompt}"
    assert openrouter.calls_for(prompt)[0]["released"] is True


def test_progress_carries_the_job_its_owner_and_the_text_so_far(api, user, listen):
    listener = listen(user["token"])
    queued = submit(api, user, unique("[trickle] Whose progress"))
    assert listener.progress.get(timeout=20) == {"jobId": queued["jobId"],
                                                 "userId": user["_id"], "text": "# "}


def test_another_user_receives_no_progress(api, user, other_user, listen):
    owner, stranger = listen(user["token"]), listen(other_user["token"])
    queued = submit(api, user, unique("[trickle] Not your stream"))
    progress_until(owner, queued["jobId"])
    time.sleep(0.5)
    assert stranger.progress.empty()


def test_a_finished_job_shows_its_usage_and_model(api, user, openrouter):
    prompt = unique("Costed")
    job = wait_until_finished(api, user, submit(api, user, prompt)["jobId"])
    assert list(job) == ["jobId", "status", "contentType", "prompt", "scheduledFor",
                         "createdAt", "generatedContent", "completedAt", "usage", "model"]
    assert job["model"] == "openai/gpt-4o-mini"
    assert set(job["usage"]) == {"promptTokens", "completionTokens", "totalTokens", "cost"}
    assert job["usage"]["completionTokens"] == len(job["generatedContent"].split())
    listed = next(item for item in api.get("/generate-content", token=user["token"]).json()
                  if item["jobId"] == job["jobId"])
    assert (listed["usage"], listed["model"]) == (job["usage"], job["model"])


def test_the_months_totals_add_up_the_jobs(api, user):
    finished = [wait_until_finished(api, user, submit(api, user, unique(name))["jobId"])
                for name in ("First costed", "Second costed")]
    month = api.get("/usage", token=user["token"]).json()["month"]
    assert month["jobs"] == 2
    for key in ("promptTokens", "completionTokens", "totalTokens"):
        assert month[key] == sum(job["usage"][key] for job in finished)
    assert month["cost"] == round(sum(job["usage"]["cost"] for job in finished), 8)


def test_an_error_in_the_stream_fails_the_job_with_one_ai_call(api, user, openrouter):
    prompt = unique("[mid-stream-error] Broken provider")
    job = wait_until_finished(api, user, submit(api, user, prompt)["jobId"])
    assert (job["status"], job["error"]) == ("failed",
                                             "AI generation failed: Provider disconnected")
    assert len(openrouter.calls_for(prompt)) == 1


def test_a_stream_cut_short_is_retried_and_completes(api, user, openrouter):
    prompt = unique("[broken-stream-once] Flaky network")
    job = wait_until_finished(api, user, submit(api, user, prompt)["jobId"])
    assert job["generatedContent"] == f"# Generated\n\nContent about: {prompt}"
    assert len(openrouter.calls_for(prompt)) == 2


def test_a_text_cut_at_the_token_limit_is_stored_and_announced_as_cut(api, user, listen):
    listener = listen(user["token"])
    prompt = unique("[cut] Too long a piece")
    queued = submit(api, user, prompt)
    event = listener.event_for(queued["jobId"], timeout=20)
    job = wait_until_finished(api, user, queued["jobId"])
    assert (job["status"], job["finishReason"]) == ("completed", "length")
    assert event == {"userId": user["_id"], "jobId": queued["jobId"], "status": "completed",
                     "generatedContent": f"# Generated\n\nContent about: {prompt}",
                     "completedAt": job["completedAt"], "finishReason": "length"}
    listed = next(item for item in api.get("/generate-content", token=user["token"]).json()
                  if item["jobId"] == queued["jobId"])
    assert listed["finishReason"] == "length"


def test_a_text_streamed_past_the_most_a_job_keeps_is_stored_cut_there(api, user, listen,
                                                                         openrouter):
    listener = listen(user["token"])
    prompt = unique("[endless] A server ignoring max_tokens")
    queued = submit(api, user, prompt)
    event = listener.event_for(queued["jobId"], timeout=20)
    job = wait_until_finished(api, user, queued["jobId"])
    kept = " ".join([ENDLESS_WORD] * 100)[:MAX_TEXT_CHARACTERS]
    assert (job["status"], job["generatedContent"], job["finishReason"]) == \
        ("completed", kept, "length")
    assert (event["generatedContent"], event["finishReason"]) == (kept, "length")
    assert openrouter.aborted(prompt)
    assert len(openrouter.calls_for(prompt)) == 1
