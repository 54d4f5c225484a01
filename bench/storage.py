"""The contract's unpaged lists at the per-user storage caps, through the
local server (`python -m devstack`): p50/p99 of GET /content and GET
/generate-content for a user at the caps beside an empty user's, with the
size of each answer and of the Lambda response that would carry it
(Lambda's limit is 6 MB), and a first page (limit=100) beside them.

At the caps: 1,000 library items of 500,000 characters in all, and 20
finished jobs plus 5 queued with every field at its cap. Two libraries:
Markdown in ASCII, and every character one that JSON escapes (é), the
largest answer the caps allow."""
import os
import secrets
import tempfile
import time
from pathlib import Path

import requests

from bench import percentile
from devstack import services
from devstack.services import StackProcess

ROUNDS = 30
MARKDOWN = "# Heading\n\n- a \"quoted\" point\n- another point, with more words\n"


def main():
    from chalicelib import settings
    from tests.support import storage

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        backing = [services.start_mongo(":memory:", folder), services.start_redis(folder)]
        mongo, redis = backing
        env = {"DATA_DIR": scratch, "STAGE": "local", "LOG_LEVEL": "WARNING",
               "MONGODB_URI": mongo.url, "MONGODB_DB": "ai_content", "REDIS_URL": redis.url,
               "SQS_ENDPOINT_URL": "", "JWT_SECRET": secrets.token_urlsafe(48),
               "BCRYPT_ROUNDS": "4", "GENERATION_DELAY_SECONDS": "900",
               "REGISTRATIONS_PER_IP_PER_MINUTE": "1000000"}
        settings.use(settings.from_env({**os.environ, **env}))
        stack = None
        try:
            stack = StackProcess(env, folder / "stack.log").start()
            users = {"empty": _register(stack.url)}
            for label, char in (("at the caps, ASCII Markdown", None),
                                ("at the caps, escaped (é)", storage.ESCAPED)):
                user = _register(stack.url)
                if char is None:
                    storage.fill_library(user, 1000, 500_000, char="x")
                    _markdown(user)
                else:
                    storage.fill_library(user, 1000, 500_000, char=char)
                storage.largest_jobs(user, finished=20, unfinished=5, char=char or "x")
                users[label] = user
            _table(stack.url, users, storage.lambda_payload_bytes)
        finally:
            if stack is not None:
                stack.stop()
            for service in backing:
                service.stop()
    print("(one client; server, database and client share the machine's 2 cores)")


def _register(url):
    return requests.post(f"{url}/auth/register", json={
        "name": "Storage", "email": f"storage-{time.monotonic_ns()}@example.com",
        "password": "pw"}).json()


def _markdown(user):
    """The ASCII library's bodies as Markdown, which JSON escapes a little
    (newlines and quotes), each as long as it was."""
    from bson import ObjectId
    from chalicelib import db
    contents = db.get().contents
    for item in contents.find({"userId": ObjectId(user["_id"])}, {"body": 1}):
        size = len(item["body"])
        contents.update_one({"_id": item["_id"]}, {"$set": {
            "body": (MARKDOWN * (size // len(MARKDOWN) + 1))[:size]}})


def _table(url, users, payload_bytes):
    paths = ("/content", "/generate-content", "/content?limit=100")
    timings = {(label, path): [] for label in users for path in paths}
    sizes = {}
    session = requests.Session()
    for _ in range(ROUNDS):
        # Alternating, so every cell sees the same neighbours on the cores.
        for label, user in users.items():
            for path in paths:
                started = time.perf_counter()
                response = session.get(url + path,
                                       headers={"Authorization": f"Bearer {user['token']}"})
                timings[label, path].append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                sizes[label, path] = (len(response.content), payload_bytes(response))
    print(f"{'user':<30}{'request':<22}{'p50 ms':>9}{'p99 ms':>9}{'× empty':>9}"
          f"{'body MB':>9}{'Lambda MB':>11}")
    for path in paths:
        empty = percentile(timings["empty", path], 0.5)
        for label in users:
            values = timings[label, path]
            body, payload = sizes[label, path]
            p50 = percentile(values, 0.5)
            print(f"{label:<30}{path:<22}{p50 * 1000:>9.1f}"
                  f"{percentile(values, 0.99) * 1000:>9.1f}{p50 / empty:>8.1f}×"
                  f"{body / 1e6:>9.2f}{payload / 1e6:>11.2f}", flush=True)
    print(f"({ROUNDS} requests a cell; Lambda MB: the answer as API Gateway's proxy "
          "response carries it, its body escaped again; the limit is 6.29 MB)")


if __name__ == "__main__":
    main()
