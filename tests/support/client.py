"""HTTP to a stack under test."""
import itertools
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

_emails = itertools.count()


class Client:
    """HTTP to the stack, with the helpers every contract test needs."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.session = requests.Session()
        # A server may close an idle keep-alive connection just as a request goes out
        # on it (uvicorn after 5 s, a test's usual pause); like a browser, resend an
        # idempotent request once on a new connection. POST is never resent.
        self.session.mount("http://", HTTPAdapter(
            max_retries=Retry(connect=0, read=1, redirect=0, status=0, other=0)))

    def request(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.base_url + path, headers=headers,
                                    timeout=30, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def register(self, name="Test User", password="password123"):
        email = f"user{next(_emails)}-{time.monotonic_ns()}@example.com"
        response = self.post("/auth/register",
                             json={"name": name, "email": email, "password": password})
        assert response.status_code == 201, response.text
        return {**response.json(), "password": password}
