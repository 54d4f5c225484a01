"""Lambda's execution environments for the harness: each a process of
devstack/aws/lambda_host.py running the unpacked bundle with exactly a function's
environment; one process serves one invocation at a time, a busy function
gets another, and one that outlives its timeout is killed, as Lambda does."""
import subprocess
import sys
import threading
from pathlib import Path

import requests

from devstack.services import free_port, wait_until_listening

HOST = Path(__file__).resolve().parent / "lambda_host.py"
# What Lambda's Python runtime provides besides the bundle.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "harness", "AWS_SECRET_ACCESS_KEY": "harness",
               "AWS_SESSION_TOKEN": "harness"}


class FunctionError(Exception):
    """An invocation failed or timed out; the message is Lambda's."""


class Function:
    """A template function and its execution environments."""

    def __init__(self, name, properties, environment, deployment, timeout=None):
        self.name, self.handler = name, properties["Handler"]
        self.timeout = timeout or properties["Timeout"]
        self.environment = {**environment, **CREDENTIALS,
                            "AWS_REGION": deployment.region,
                            "AWS_DEFAULT_REGION": deployment.region,
                            "AWS_LAMBDA_FUNCTION_NAME": f"{deployment.stack}-{name}",
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties["MemorySize"]),
                            "LAMBDA_TASK_ROOT": str(deployment.task_root), "TZ": ":UTC",
                            "AWS_ENDPOINT_URL_SQS": deployment.sqs_url}
        self._deployment = deployment
        self._idle, self._all = [], []
        self._lock = threading.Lock()
        self.timed_out = 0
        self._stopped = False

    def invoke(self, event):
        """The handler's result; FunctionError when it raised or timed out."""
        process, port = self._take()
        try:
            response = requests.post(f"http://127.0.0.1:{port}/invoke", json=event,
                                     headers={"X-Timeout-Seconds": str(self.timeout)},
                                     timeout=self.timeout)
        except requests.Timeout:
            self._discard(process)
            self.timed_out += 1
            raise FunctionError(f"Task timed out after {self.timeout:.2f} seconds") from None
        except requests.ConnectionError:
            self._discard(process)
            raise FunctionError("Runtime exited") from None
        with self._lock:
            self._idle.append((process, port))
        if response.headers.get("X-Function-Error"):
            raise FunctionError(response.json()["errorMessage"])
        return response.json()

    def __call__(self, event, context=None):
        return self.invoke(event)

    def _take(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        port = free_port()
        log = open(self._deployment.log_dir / f"{self.name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(HOST), str(self._deployment.task_root),
             str(self._deployment.runtime_dir), self.handler, str(port)],
            env=self.environment, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        with self._lock:
            self._all.append(process)
            if self._stopped:
                process.kill()
                raise FunctionError(f"{self.name} is stopped")
        try:
            wait_until_listening(process, port, f"{self.name} ({log.name})")
        except RuntimeError as error:
            raise FunctionError(f"{self.name} failed to initialise: {error}") from None
        return process, port

    def _discard(self, process):
        process.kill()
        process.wait()

    def stop(self):
        with self._lock:
            self._stopped = True
        for process in self._all:
            if process.poll() is None:
                process.kill()
                process.wait()
