"""Logging in, and seeing a token or a socket ended."""
import time

# A socket of an ended session is closed within this (the 2 s, and
# the client's own detection of the close).
CLOSE_SECONDS = 2.5



def login(api, user):
    response = api.post("/auth/login", json={"email": user["email"],
                                             "password": user["password"]})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def refused(api, token):
    response = api.get("/auth/me", token=token)
    return response.status_code == 401 and response.json() == {"message": "Not authorized"}


def closed_within(listener, seconds):
    deadline = time.monotonic() + seconds
    while listener.client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    return not listener.client.connected
