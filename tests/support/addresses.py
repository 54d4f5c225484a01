"""HTTP from a chosen loopback address (127.0.0.x), so a stack sees that
peer as the client's address: how the tests and benchmarks act as several
clients on one machine."""
import http.client
import json


def request_from(port, source, method, path, body=None, headers=(), token=None):
    """(status, JSON body, Retry-After) of one request from `source`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(source, 0))
    sent = {**({"Content-Type": "application/json"} if body is not None else {}),
            **({"Authorization": f"Bearer {token}"} if token else {}), **dict(headers)}
    try:
        connection.request(method, path, None if body is None else json.dumps(body), sent)
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Retry-After")
    finally:
        connection.close()


def post_from(stack, source, path, body, headers=(), token=None):
    """POST from the loopback address `source` to a running stack."""
    return request_from(stack.port, source, "POST", path, body, headers, token)
