"""POST /generate-content/{jobId}/cancel, an addition to the contract: the
owner stops a queued or processing job; it ends as failed, at once, and its
owner's sockets are told."""
import time

import pytest

from tests.support.jobs import submit, unique, wait_until_finished

CANCELLED = "Cancelled by the user"


def cancel(api, user, job_id):
    return api.post(f"/generate-content/{job_id}/cancel", token=user["token"])


def test_a_queued_job_ends_at_once_as_failed(api, user, listen):
    listener = listen(user["token"])
    queued = submit(api, user, unique("Cancel me"))
    response = cancel(api, user, queued["jobId"])
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["jobId", "status", "contentType", "prompt", "scheduledFor",
                          "createdAt", "error", "completedAt"]
    assert (body["status"], body["error"]) == ("failed", CANCELLED)
    assert api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json() == body
    assert listener.event_for(queued["jobId"]) == {
        "userId": user["_id"], "jobId": queued["jobId"], "status": "failed",
        "error": CANCELLED, "completedAt": body["completedAt"]}


def test_a_cancelled_queued_job_never_calls_the_ai(api, user, openrouter):
    prompt = unique("Cancelled before its time")
    queued = submit(api, user, prompt)
    cancel(api, user, queued["jobId"])
    time.sleep(queued["delaySeconds"] + 3)
    assert openrouter.calls_for(prompt) == []
    job = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
    assert (job["status"], job["error"]) == ("failed", CANCELLED)


@pytest.mark.parametrize("framing", ["chunked", "close-delimited"])
def test_a_processing_job_is_stopped_by_its_worker(api, user, listen, openrouter, framing):
    listener = listen(user["token"])
    prompt = unique(f"[long] [{framing}] Stop me")
    queued = submit(api, user, prompt)
    listener.progress.get(timeout=20)
    response = cancel(api, user, queued["jobId"])
    assert (response.status_code, response.json()["error"]) == (200, CANCELLED)
    assert listener.event_for(queued["jobId"])["status"] == "failed"
    assert openrouter.aborted(prompt), "the worker kept reading the stream"
    job = wait_until_finished(api, user, queued["jobId"])
    assert (job["status"], job["error"]) == ("failed", CANCELLED)
    assert len(openrouter.calls_for(prompt)) == 1
    assert listener.events.empty()


def test_a_job_cancelled_while_waiting_to_retry_makes_no_further_ai_call(api, user,
                                                                         openrouter):
    prompt = unique("[rate-limited-slowly] Cancelled between attempts")
    queued = submit(api, user, prompt)
    first = openrouter.first_call(prompt)
    assert cancel(api, user, queued["jobId"]).status_code == 200
    openrouter.wait_past_retry(first)
    assert len(openrouter.calls_for(prompt)) == 1
    job = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
    assert (job["status"], job["error"]) == ("failed", CANCELLED)


def test_a_finished_job_cannot_be_cancelled(api, user):
    queued = submit(api, user, unique("Already done"))
    wait_until_finished(api, user, queued["jobId"])
    response = cancel(api, user, queued["jobId"])
    assert response.status_code == 400
    assert response.json() == {"message": "Job already finished", "currentStatus": "completed"}


def test_a_cancelled_job_cannot_be_cancelled_again(api, user):
    queued = submit(api, user, unique("Twice"))
    cancel(api, user, queued["jobId"])
    response = cancel(api, user, queued["jobId"])
    assert response.status_code == 400
    assert response.json() == {"message": "Job already finished", "currentStatus": "failed"}


def test_another_users_job_is_not_found(api, user, other_user):
    queued = submit(api, user, unique("Mine to cancel"))
    response = cancel(api, other_user, queued["jobId"])
    assert (response.status_code, response.json()) == (404, {"message": "Job not found"})
    job = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
    assert job["status"] == "queued"


@pytest.mark.parametrize("job_id", ["not-a-job", "b84e3feb-19c9-4231-8893-0eba6bd61a63",
                                    "%7B%22%24gt%22%3A%22%22%7D"])
def test_an_unknown_or_malformed_id_is_not_found(api, user, job_id):
    response = cancel(api, user, job_id)
    assert (response.status_code, response.json()) == (404, {"message": "Job not found"})


def test_cancel_needs_a_token(api, user):
    queued = submit(api, user, unique("No token"))
    response = api.post(f"/generate-content/{queued['jobId']}/cancel")
    assert (response.status_code, response.json()) == (401,
                                                       {"message": "Not authorized, no token"})
