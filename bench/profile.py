"""Where a request's CPU goes on the Lambda handler path (what AWS bills per
millisecond): GET /content (20 items), the search, POST /content and
POST /auth/login, each run through chalice.test's client, which builds the
API Gateway event and calls the handler as Lambda does, under pyinstrument,
against an embedded MongoDB. `python -m bench profile`; not part of `make
bench`, as its output is long."""
import dataclasses
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from devstack import services

REQUESTS = 300
ITEM = {"title": "Benchmark item", "type": "Blog Post Outline",
        "body": "# Outline\n\n- one\n- two\n- three\n" * 5}


def main():
    with tempfile.TemporaryDirectory() as scratch:
        mongo = services.start_mongo(":memory:", Path(scratch))
        try:
            profile_requests(mongo.url)
        finally:
            mongo.stop()


def profile_requests(mongo_url):
    from chalice.test import Client

    from chalicelib import settings

    settings.use(dataclasses.replace(
        settings.from_env({"MONGODB_URI": mongo_url, "JWT_SECRET": "p" * 48,
                           "LOG_LEVEL": "WARNING", "BCRYPT_ROUNDS": "10"}),
        login_attempts_per_ip_per_minute=1000000, registrations_per_ip_per_minute=1000000))
    from app import app

    with Client(app, stage_name="local") as client:
        credentials = client.http.post(
            "/auth/register", headers={"content-type": "application/json"},
            body=_json({"name": "Profile", "email": "profile@example.com",
                        "password": "pw"})).json_body
        headers = {"authorization": f"Bearer {credentials['token']}",
                   "content-type": "application/json"}
        for _ in range(20):
            client.http.post("/content", headers=headers, body=_json(ITEM))
        requests = [
            ("GET /content (20)", lambda: client.http.get("/content", headers=headers)),
            ("GET /content?search", lambda: client.http.get("/content?search=outline",
                                                            headers=headers)),
            ("POST /content", lambda: client.http.post("/content", headers=headers,
                                                       body=_json(ITEM))),
            ("POST /auth/login", lambda: client.http.post(
                "/auth/login", headers={"content-type": "application/json"},
                body=_json({"email": "profile@example.com", "password": "pw"}))),
        ]
        for label, request in requests:
            count = REQUESTS if "login" not in label else REQUESTS // 10
            request()
            profiler = Profiler(interval=0.0002)
            started = time.process_time()
            with profiler:
                for _ in range(count):
                    request()
            cpu_ms = (time.process_time() - started) * 1000 / count
            print(f"\n--- {label}: {cpu_ms:.2f} CPU ms/request in this process "
                  f"(profiler included) ---")
            print(profiler.output_text(unicode=False, color=False))


def _json(body):
    import json

    return json.dumps(body)


if __name__ == "__main__":
    main()
