"""Generation jobs through the API: submit one, wait for its end."""
import re
import time
from datetime import datetime

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def parse(stamp):
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")


def submit(api, user, prompt, content_type="Blog Post Outline"):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": prompt, "contentType": content_type})
    assert response.status_code == 202, response.text
    return response.json()


def wait_until_finished(api, user, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/generate-content/{job_id}", token=user["token"]).json()
        if job["status"] not in ("queued", "processing"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")


def unique(text):
    return f"{text} #{time.monotonic_ns()}"
