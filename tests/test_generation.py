"""Section 6 of the contract, through the whole local stack: API, SQS with its
delay, the worker, the fake OpenRouter and MongoDB."""
import json
import re
import time
from datetime import datetime, timedelta

import pytest
import redis

from tests.support.jobs import ISO, parse, submit, unique, wait_until_finished

INVALID_TYPE = ("Invalid content type. Must be one of: Blog Post Outline, "
                "Product Description, Social Media Caption")


def test_submit_returns_202_with_the_schedule(api, user):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "AI in healthcare", "contentType": "Blog Post Outline"})
    assert response.status_code == 202
    body = response.json()
    assert list(body) == ["message", "jobId", "status", "delaySeconds", "scheduledFor",
                          "estimatedCompletionTime"]
    assert body["message"] == "Content generation job queued successfully"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        body["jobId"])
    assert body["status"] == "queued"
    assert body["delaySeconds"] == 2
    assert ISO.match(body["scheduledFor"]) and ISO.match(body["estimatedCompletionTime"])
    assert parse(body["estimatedCompletionTime"]) - parse(body["scheduledFor"]) == \
        timedelta(seconds=30)


def test_submit_without_prompt_or_type_is_400(api, user):
    for body in ({"contentType": "Blog Post Outline"}, {"prompt": "x"}, {"prompt": " ",
                                                                         "contentType": ""}):
        response = api.post("/generate-content", token=user["token"], json=body)
        assert response.status_code == 400
        assert response.json() == {"message": "Please provide prompt and contentType"}


def test_submit_with_a_null_prompt_is_400_please_provide_prompt_and_content_type(api, user):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": None, "contentType": "Blog Post Outline"})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide prompt and contentType"}


def test_submit_with_an_unknown_type_is_400_with_the_allowed_list(api, user):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "x", "contentType": "Poem"})
    assert response.status_code == 400
    assert response.json() == {"message": INVALID_TYPE}


def test_submit_with_a_non_string_prompt_is_400(api, user):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": {"$gt": ""}, "contentType": "Blog Post Outline"})
    assert response.status_code == 400
    assert response.json() == {"message": "prompt must be a string"}


def test_submit_without_a_token_is_401(api):
    response = api.post("/generate-content", json={"prompt": "x",
                                                   "contentType": "Blog Post Outline"})
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}


def test_a_queued_job_shows_its_schedule(api, user):
    queued = submit(api, user, unique("Queued job"))
    response = api.get(f"/generate-content/{queued['jobId']}", token=user["token"])
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["jobId", "status", "contentType", "prompt", "scheduledFor",
                          "createdAt"]
    assert body["status"] == "queued"
    assert body["scheduledFor"] == queued["scheduledFor"]
    assert parse(body["scheduledFor"]) - parse(body["createdAt"]) == timedelta(seconds=2)


def test_a_job_completes_after_its_delay_with_one_ai_call(api, user, openrouter):
    prompt = unique("The future of AI in healthcare")
    queued = submit(api, user, prompt)
    job = wait_until_finished(api, user, queued["jobId"])
    # The contract's fields in its order, then the additions usage and model.
    assert list(job) == ["jobId", "status", "contentType", "prompt", "scheduledFor",
                         "createdAt", "generatedContent", "completedAt", "usage", "model"]
    assert job["status"] == "completed"
    assert job["generatedContent"] == f"# Generated\n\nContent about: {prompt}"
    assert parse(job["completedAt"]) >= parse(queued["scheduledFor"])
    calls = openrouter.calls_for(prompt)
    assert len(calls) == 1
    assert calls[0]["request"]["messages"][0]["role"] == "system"


def test_the_ai_is_not_called_before_scheduled_for(api, user, openrouter):
    prompt = unique("Not early")
    queued = submit(api, user, prompt)
    wait_until_finished(api, user, queued["jobId"])
    scheduled = (parse(queued["scheduledFor"]) - datetime(1970, 1, 1)).total_seconds()
    assert openrouter.calls_for(prompt)[0]["at"] >= scheduled


def test_a_rate_limited_call_is_retried_after_retry_after(api, user, openrouter):
    prompt = unique("[rate-limited-once] Eco bottle")
    job = wait_until_finished(api, user, submit(api, user, prompt)["jobId"])
    assert job["status"] == "completed"
    first, second = openrouter.calls_for(prompt)
    assert second["at"] - first["at"] >= 1.0


@pytest.mark.parametrize("marker, error", [
    ("[payment-required]", "OpenRouter account has insufficient credits"),
    ("[server-error]", "AI service error (HTTP 500)"),
    ("[choice-error]", "AI generation failed: Upstream provider error"),
    ("[empty]", "AI returned empty content"),
])
def test_an_ai_failure_fails_the_job_at_once(api, user, openrouter, marker, error):
    prompt = unique(f"{marker} Something")
    job = wait_until_finished(api, user, submit(api, user, prompt)["jobId"])
    assert job["status"] == "failed"
    assert job["error"] == error
    assert ISO.match(job["completedAt"])
    assert "generatedContent" not in job
    assert len(openrouter.calls_for(prompt)) == 1


def test_job_status_of_an_unknown_job_is_404(api, user):
    response = api.get("/generate-content/b84e3feb-19c9-4231-8893-0eba6bd61a63",
                       token=user["token"])
    assert response.status_code == 404
    assert response.json() == {"message": "Job not found"}


def test_job_status_of_another_users_job_is_404(api, user, other_user):
    queued = submit(api, user, unique("Private"))
    response = api.get(f"/generate-content/{queued['jobId']}", token=other_user["token"])
    assert response.status_code == 404
    assert response.json() == {"message": "Job not found"}


def test_list_returns_own_jobs_newest_first_as_documents(api, user, other_user):
    first = submit(api, user, unique("First"))
    second = submit(api, user, unique("Second"))
    submit(api, other_user, unique("Not mine"))
    response = api.get("/generate-content", token=user["token"])
    assert response.status_code == 200
    jobs = response.json()
    assert [job["jobId"] for job in jobs] == [second["jobId"], first["jobId"]]
    assert list(jobs[0]) == ["_id", "jobId", "userId", "prompt", "contentType", "status",
                             "scheduledFor", "createdAt", "updatedAt", "__v"]
    assert jobs[0]["userId"] == user["_id"] and jobs[0]["__v"] == 0


def test_a_completed_job_lists_its_result(api, user):
    queued = submit(api, user, unique("Listed"))
    wait_until_finished(api, user, queued["jobId"])
    listed = api.get("/generate-content", token=user["token"]).json()[0]
    assert list(listed) == ["_id", "jobId", "userId", "prompt", "contentType", "status",
                            "generatedContent", "scheduledFor", "completedAt", "createdAt",
                            "updatedAt", "__v", "usage", "model"]
    assert listed["status"] == "completed"


def test_save_stores_the_result_in_the_library_with_a_title(api, user):
    queued = submit(api, user, unique("Saved"), "Product Description")
    job = wait_until_finished(api, user, queued["jobId"])
    response = api.post(f"/generate-content/{queued['jobId']}/save", token=user["token"],
                        json={"title": "My product"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["message", "content"]
    assert body["message"] == "Content saved successfully"
    assert body["content"]["title"] == "My product"
    assert body["content"]["type"] == "Product Description"
    assert body["content"]["body"] == job["generatedContent"]
    assert body["content"]["userId"] == user["_id"]
    assert api.get("/content", token=user["token"]).json()[0] == body["content"]


def test_save_without_a_title_derives_one_from_the_prompt(api, user):
    queued = submit(api, user, "Benefits of remote work for small teams")
    wait_until_finished(api, user, queued["jobId"])
    response = api.post(f"/generate-content/{queued['jobId']}/save", token=user["token"],
                        json={})
    assert response.status_code == 201
    assert response.json()["content"]["title"] == "Benefits of remote work for small teams"


@pytest.mark.parametrize("title", [None, 7, {"$gt": ""}])
def test_save_with_a_null_or_non_string_title_is_400_and_saves_nothing(api, user, title):
    queued = submit(api, user, unique("Typed title"))
    wait_until_finished(api, user, queued["jobId"])
    response = api.post(f"/generate-content/{queued['jobId']}/save", token=user["token"],
                        json={"title": title})
    assert response.status_code == 400
    assert response.json() == {"message": "title must be a string"}
    assert api.get("/content", token=user["token"]).json() == []


def test_save_of_an_incomplete_job_is_400_with_its_status(api, user):
    queued = submit(api, user, unique("Too early"))
    response = api.post(f"/generate-content/{queued['jobId']}/save", token=user["token"])
    assert response.status_code == 400
    assert response.json() == {"message": "Cannot save content from incomplete job",
                               "currentStatus": "queued"}


def test_save_of_a_completed_job_without_content_is_400(api, user):
    from chalicelib import db
    queued = submit(api, user, unique("Emptied"))
    wait_until_finished(api, user, queued["jobId"])
    db.get().jobs.update_one({"jobId": queued["jobId"]}, {"$unset": {"generatedContent": ""}})
    response = api.post(f"/generate-content/{queued['jobId']}/save", token=user["token"])
    assert response.status_code == 400
    assert response.json() == {"message": "No generated content available"}


def test_save_of_another_users_job_is_404(api, user, other_user):
    queued = submit(api, user, unique("Not yours"))
    wait_until_finished(api, user, queued["jobId"])
    response = api.post(f"/generate-content/{queued['jobId']}/save",
                        token=other_user["token"], json={})
    assert response.status_code == 404
    assert response.json() == {"message": "Job not found"}


def test_completion_is_published_to_the_owners_room(api, user, backing):
    listener = redis.Redis.from_url(backing["redis"].url).pubsub()
    listener.subscribe("socketio")
    listener.get_message(timeout=1)
    queued = submit(api, user, unique("Published"))
    job = wait_until_finished(api, user, queued["jobId"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = listener.get_message(timeout=1)
        if message and message["type"] == "message":
            packet = json.loads(message["data"])
            if packet["event"] == "job_completed" and \
                    packet["data"][0]["jobId"] == queued["jobId"]:
                break
    else:
        raise AssertionError("no job_completed published")
    listener.close()
    assert packet["event"] == "job_completed"
    assert packet["room"] == f"user:{user['_id']}"
    assert packet["data"] == [{"userId": user["_id"], "jobId": queued["jobId"],
                               "status": "completed",
                               "generatedContent": job["generatedContent"],
                               "completedAt": job["completedAt"]}]
