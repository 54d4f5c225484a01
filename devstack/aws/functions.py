"""Lambda's execution environments for the harness: each a process of
devstack/aws/lambda_host.py running the unpacked bundle with exactly a function's
environment and its role's credentials; one process serves one invocation
at a time, a busy function gets another, and one that outlives its timeout
is killed, as Lambda does. What an environment prints reaches the
function's CloudWatch Logs group, written with its role as Lambda writes
it, and the harness's log folder."""
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests
from botocore.exceptions import ClientError

from devstack.services import free_port, wait_until_listening

HOST = Path(__file__).resolve().parent / "lambda_host.py"
# What Lambda's Python runtime provides besides the bundle.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six")


class FunctionError(Exception):
    """An invocation failed or timed out; the message is Lambda's."""


class Function:
    """A template function and its execution environments."""

    def __init__(self, name, properties, environment, credentials, deployment, timeout=None):
        self.name, self.handler = name, properties["Handler"]
        self.timeout = timeout or properties["Timeout"]
        self.credentials = credentials
        self.function_name = f"{deployment.stack}-{name}"
        self.environment = {**environment, **credentials,
                            "AWS_REGION": deployment.region,
                            "AWS_DEFAULT_REGION": deployment.region,
                            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties["MemorySize"]),
                            "LAMBDA_TASK_ROOT": str(deployment.task_root), "TZ": ":UTC",
                            "AWS_ENDPOINT_URL": deployment.account.url}
        self.log_group = f"/aws/lambda/{self.function_name}"
        self._logs = deployment.account.client("logs", credentials)
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
        log = self._deployment.log_dir / f"{self.name}.log"
        # Unbuffered, as Lambda's runtime writes each line as it is printed.
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-u", str(HOST), str(self._deployment.task_root),
             str(self._deployment.runtime_dir), self.handler, str(port)],
            env=self.environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=self._ship, args=(process.stdout, log), daemon=True).start()
        with self._lock:
            self._all.append(process)
            if self._stopped:
                process.kill()
                raise FunctionError(f"{self.name} is stopped")
        try:
            wait_until_listening(process, port, f"{self.name} ({log})")
        except RuntimeError as error:
            raise FunctionError(f"{self.name} failed to initialise: {error}") from None
        return process, port

    def _ship(self, output, path):
        """Each line to the log folder and, as Lambda sends it, to a log
        stream of this environment; a refused call loses the lines in
        CloudWatch (noted in the folder), as in AWS."""
        stream = datetime.now(timezone.utc).strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        with open(path, "ab") as log:
            delivering = self._open_stream(stream, log)
            for line in output:
                log.write(line)
                log.flush()
                if delivering:
                    delivering = self._deliver(stream, line, log)

    def _open_stream(self, stream, log):
        try:
            try:
                self._logs.create_log_stream(logGroupName=self.log_group, logStreamName=stream)
            except self._logs.exceptions.ResourceNotFoundException:
                self._logs.create_log_group(logGroupName=self.log_group)
                self._logs.create_log_stream(logGroupName=self.log_group, logStreamName=stream)
            return True
        except ClientError as error:
            return self._undelivered(error, log)

    def _deliver(self, stream, line, log):
        try:
            self._logs.put_log_events(logGroupName=self.log_group, logStreamName=stream,
                                      logEvents=[{"timestamp": int(time.time() * 1000),
                                                  "message": line.decode(errors="replace")}])
            return True
        except ClientError as error:
            return self._undelivered(error, log)

    def _undelivered(self, error, log):
        log.write(f"[harness] this environment's output is not sent to CloudWatch Logs: "
                  f"{error}\n".encode())
        return False

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
