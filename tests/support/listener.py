"""A Socket.IO client for the tests."""
import queue
import time

import socketio


class Listener:
    """A python-socketio client that records what it is told. It uses the
    websocket transport: its polling transport takes 30 s to disconnect, so
    polling is exercised with the JavaScript client (tests/test_notifier.py)."""

    def __init__(self, url, token, transports=("websocket",), reconnection=False, since=None):
        self.events = queue.Queue()
        self.progress = queue.Queue()
        self.refusal = None
        self.client = socketio.Client(reconnection=reconnection, reconnection_delay=0.2,
                                      reconnection_delay_max=0.5)
        self.client.on("job_completed", self.events.put)
        self.client.on("job_progress", self.progress.put)
        self.client.on("connect_error", self._refused)
        self.url, self.token, self.transports = url, token, list(transports)
        self.auth = {"token": token} if since is None else {"token": token, "since": since}

    def _refused(self, data):
        self.refusal = data.get("message") if isinstance(data, dict) else data

    def connect(self):
        self.client.connect(self.url, auth=self.auth, transports=self.transports,
                            wait_timeout=5)
        return self

    def next_event(self, timeout=15):
        return self.events.get(timeout=timeout)

    def event_for(self, job_id, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["jobId"] == job_id:
                return event

    def close(self):
        self.client.disconnect()
