"""The notifier holds its sockets in bounds, on either server: sockets over
the per-user and per-address caps are refused with `connect_error`, an
Engine.IO session that never connects to the namespace is closed, packets
are small, and catch-up on connect is rate-limited per user."""
import itertools
import json
import time

import pytest
import requests
import socketio
import websockets.sync.client

from chalicelib import contract, db
from devstack.services import StackProcess
from tests.support.listener import Listener
from tests.support.notifier import Notifier, insert_finished, received

CONNECT_TIMEOUT = 1
LIMITS = {"NOTIFIER_MAX_SOCKETS_PER_USER": "3", "NOTIFIER_MAX_SOCKETS_PER_ADDRESS": "3",
          "NOTIFIER_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
          "CATCH_UPS_PER_USER_PER_MINUTE": "2", "NOTIFIER_MAX_PACKET_BYTES": "1024"}
# Each test comes from addresses of its own, as a load balancer names them.
BEHIND_A_PROXY = {**LIMITS, "NOTIFIER_TRUSTED_PROXIES": "1"}
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(scope="module", params=["local stack", "python -m notifier"])
def held(request, stack_env, tmp_path_factory):
    """A Socket.IO server with small limits, behind one (pretended) proxy."""
    logs = tmp_path_factory.mktemp("held")
    if request.param == "local stack":
        started = StackProcess({**stack_env, **BEHIND_A_PROXY,
                                "STACK_PARAMETERS": "JobsQueueName=held-jobs "
                                                    "DeadLetterQueueName=held-dlq"},
                               logs / "stack.log").start()
    else:
        started = Notifier(logs / "notifier.log", env=BEHIND_A_PROXY).start()
    yield started.url
    started.stop()


@pytest.fixture
def opened():
    listeners = []
    yield listeners
    for listener in listeners:
        listener.close()


def connect(url, token, address, opened, forwarded=None, since=None):
    """A socket as a proxy that appends `address` forwards it; None if it
    was refused, with the refusal's message in `refusal`."""
    listener = Listener(url, token, since=since)
    listener.client.connect(url, auth=listener.auth, transports=["websocket"], wait_timeout=5,
                            headers={"X-Forwarded-For": forwarded or address})
    opened.append(listener)
    return listener


def refusal(url, token, address, forwarded=None):
    listener = Listener(url, token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        listener.client.connect(url, auth=listener.auth, transports=["websocket"],
                                wait_timeout=5,
                                headers={"X-Forwarded-For": forwarded or address})
    return listener.refusal


def test_a_socket_over_the_per_user_cap_is_refused(held, api, opened):
    user = api.register()
    for _ in range(3):
        connect(held, user["token"], next(_addresses), opened)
    assert refusal(held, user["token"], next(_addresses)) == \
        contract.TOO_MANY_SOCKETS_FOR_USER


def test_a_socket_over_the_per_address_cap_is_refused(held, api, opened):
    address = next(_addresses)
    for _ in range(3):
        connect(held, api.register()["token"], address, opened)
    assert refusal(held, api.register()["token"], address) == \
        contract.TOO_MANY_SOCKETS_FROM_ADDRESS


def test_a_closed_socket_frees_its_place_under_the_cap(held, api, opened):
    user, address = api.register(), next(_addresses)
    first = connect(held, user["token"], address, opened)
    for _ in range(2):
        connect(held, user["token"], address, opened)
    first.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert connect(held, user["token"], address, opened).client.connected
            return
        except socketio.exceptions.ConnectionError:
            assert time.monotonic() < deadline, "the closed socket's place was never freed"
            time.sleep(0.1)


def test_a_refused_token_takes_no_place_under_the_address_cap(held, api, opened):
    address = next(_addresses)
    for _ in range(3):
        assert refusal(held, "not-a-jwt", address) == contract.NOT_AUTHORIZED
    assert connect(held, api.register()["token"], address, opened).client.connected


def test_behind_the_proxy_the_address_is_the_one_it_appended(held, api, opened):
    address = next(_addresses)
    for forged in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        connect(held, api.register()["token"], address, opened,
                forwarded=f"{forged}, {address}")
    assert refusal(held, api.register()["token"], address, forwarded=f"10.0.0.4, {address}") \
        == contract.TOO_MANY_SOCKETS_FROM_ADDRESS


def test_without_a_proxy_the_address_is_the_peers_whatever_it_forwards(api, opened, tmp_path,
                                                                         stack):
    notifier = Notifier(tmp_path / "notifier.log", env=LIMITS).start()
    try:
        for _ in range(3):
            connect(notifier.url, api.register()["token"], next(_addresses), opened)
        assert refusal(notifier.url, api.register()["token"], next(_addresses)) == \
            contract.TOO_MANY_SOCKETS_FROM_ADDRESS
    finally:
        for listener in opened:
            listener.close()
        notifier.stop()


def polling(url):
    return f"{url}/socket.io/?EIO=4&transport=polling"


def handshake(url):
    """A raw Engine.IO session over long-polling: its sid."""
    response = requests.get(polling(url), timeout=5)
    assert (response.status_code, response.text[:1]) == (200, "0")
    return json.loads(response.text[1:])["sid"]


def test_a_polling_session_that_never_connects_to_the_namespace_is_closed(held):
    sid = handshake(held)
    time.sleep(CONNECT_TIMEOUT + 1)
    response = requests.get(f"{polling(held)}&sid={sid}", timeout=5)
    assert (response.status_code, response.text) == (400, f'"\'Session is disconnected\' {sid}"')


def websocket(url):
    """A raw Engine.IO session over a websocket, past its handshake."""
    socket = websockets.sync.client.connect(
        url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
    assert socket.recv(timeout=5).startswith("0{")
    return socket


def test_a_websocket_session_that_never_connects_to_the_namespace_is_closed(held):
    with websocket(held) as socket:
        assert socket.recv(timeout=CONNECT_TIMEOUT + 5) == "1"
        with pytest.raises(websockets.ConnectionClosed):
            socket.recv(timeout=5)


def test_a_connected_socket_outlives_the_connect_timeout(held, api, opened):
    listener = connect(held, api.register()["token"], next(_addresses), opened)
    time.sleep(CONNECT_TIMEOUT + 1)
    assert listener.client.connected


def test_a_packet_over_the_size_limit_ends_the_session(held):
    with websocket(held) as socket:
        socket.send("4" + "x" * 1024)
        with pytest.raises(websockets.ConnectionClosed):
            socket.recv(timeout=5)


def test_a_packet_within_the_size_limit_is_read(held):
    with websocket(held) as socket:
        socket.send("40" + json.dumps({"token": "x" * 900}))
        assert json.loads(socket.recv(timeout=5)[2:]) == {"message": contract.NOT_AUTHORIZED}


def test_catch_up_on_connect_is_rate_limited_per_user(held, api, opened):
    user = api.register()
    insert_finished(db.object_id(user["_id"]), 1)
    caught_up = [len(received(connect(held, user["token"], next(_addresses), opened,
                                      since="2000-01-01T00:00:00Z"))) for _ in range(2)]
    over = connect(held, user["token"], next(_addresses), opened, since="2000-01-01T00:00:00Z")
    assert (caught_up, over.client.connected, received(over)) == ([1, 1], True, [])


def test_the_catch_up_rate_is_each_users_own(held, api, opened):
    busy, other = api.register(), api.register()
    for _ in range(3):
        connect(held, busy["token"], next(_addresses), opened,
                since="2000-01-01T00:00:00Z").close()
    insert_finished(db.object_id(other["_id"]), 1)
    listener = connect(held, other["token"], next(_addresses), opened,
                       since="2000-01-01T00:00:00Z")
    assert len(received(listener)) == 1
