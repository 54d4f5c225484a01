"""Requests as an attacker writes them, byte for byte, and what a user has
stored, to show that a refused request changed none of it."""
import json

import websockets.sync.client

from tests.support.jobs import submit, wait_until_finished

BOM = b"\xef\xbb\xbf"


def send(api, method, path, token=None, data=b""):
    """`data` as the body, exactly: no client re-encodes or checks it."""
    return api.request(method, path, token=token, data=data,
                       headers={"Content-Type": "application/json"})


def nested(levels) -> str:
    """A JSON array `levels` containers deep."""
    return "[" * levels + "]" * levels


def with_member(body: dict, member: str) -> str:
    """`body` as JSON with one more member, `member` written as given."""
    text = json.dumps(body)
    return f"{text[:-1]}, {member}}}" if body else f"{{{member}}}"


def victim(api):
    """A user with something of everything: an item, a voice and a finished
    job, so a hostile request that were taken could change each."""
    user = api.register(name="Victim")
    item = api.post("/content", token=user["token"], json={
        "title": "Kept", "type": "Blog Post Outline", "body": "Kept as it is."}).json()
    voice = api.post("/voices", token=user["token"], json={
        "name": "Plain", "description": "Short sentences.", "samples": ["One."]}).json()
    job = submit(api, user, "A job to keep")
    wait_until_finished(api, user, job["jobId"])
    return {**user, "item": item["_id"], "voice": voice["_id"], "job": job["jobId"]}


def stored(api, user) -> dict:
    """Everything the user has, as the API answers it with their token, and
    whether their password still logs in."""
    state = {path: api.get(path, token=user["token"]).json()
             for path in ("/auth/me", "/content", "/voices", "/generate-content", "/usage")}
    state["login"] = api.post("/auth/login", json={
        "email": user["email"], "password": user["password"]}).status_code
    return state


def handshake(url, connect_packet, then=None):
    """The Socket.IO server's answer to `connect_packet` sent raw on a new
    Engine.IO websocket session, and to `then` on the same session after it."""
    socket = websockets.sync.client.connect(
        url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
    with socket:
        assert socket.recv(timeout=5).startswith("0{")
        socket.send(connect_packet)
        answers = [socket.recv(timeout=5)]
        if then is not None:
            socket.send(then)
            answers.append(socket.recv(timeout=5))
    return answers
