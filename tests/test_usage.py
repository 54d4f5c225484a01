"""Usage and cost, additions to the contract: `usage` and `model` on a job
when known, and a user's totals for the month in `GET /usage`."""
from tests.support.jobs import ISO, submit, unique, wait_until_finished


def month_start(stamp):
    return stamp[:8] + "01T00:00:00.000Z"


def test_a_new_user_has_spent_nothing_this_month(api, user):
    response = api.get("/usage", token=user["token"])
    assert response.status_code == 200
    month = response.json()["month"]
    assert ISO.match(month["start"]) and month["start"] == month_start(month["start"])
    assert month == {"start": month["start"], "jobs": 0, "promptTokens": 0,
                     "completionTokens": 0, "totalTokens": 0, "cost": 0}


def test_a_failed_job_counts_as_a_job_without_tokens(api, user):
    queued = submit(api, user, unique("[payment-required] Costless"))
    job = wait_until_finished(api, user, queued["jobId"])
    assert "usage" not in job and "model" not in job
    month = api.get("/usage", token=user["token"]).json()["month"]
    assert (month["jobs"], month["totalTokens"], month["cost"]) == (1, 0, 0)


def test_a_job_whose_server_reports_no_usage_counts_its_estimated_tokens(api, user):
    job = wait_until_finished(api, user, submit(api, user, unique("[no-usage] Local"))["jobId"])
    assert job["usage"]["estimated"] is True
    assert job["usage"]["totalTokens"] == (job["usage"]["promptTokens"]
                                           + job["usage"]["completionTokens"]) > 0
    month = api.get("/usage", token=user["token"]).json()["month"]
    assert (month["jobs"], month["promptTokens"], month["completionTokens"],
            month["totalTokens"], month["cost"]) == (
        1, job["usage"]["promptTokens"], job["usage"]["completionTokens"],
        job["usage"]["totalTokens"], 0)
