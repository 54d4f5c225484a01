"""One Lambda execution environment, for the deployed-shape harness.

Run as `python -I -S lambda_host.py TASK_ROOT RUNTIME_DIR HANDLER PORT`, with
exactly the function's environment: it imports HANDLER (`module.function`)
from the unpacked bundle in TASK_ROOT, with only the standard library and
the runtime's boto3 (RUNTIME_DIR) besides, and serves one invocation at a
time on a loopback port: POST /invoke with the event; the answer is the
handler's result, or Lambda's error shape with `X-Function-Error`. The
caller enforces the timeout by killing this process, as Lambda does."""
import importlib
import json
import os
import sys
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer


class Context:
    """The parts of Lambda's context object the handlers use."""

    def __init__(self, timeout_seconds):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main():
    task_root, runtime_dir, handler_name, port = sys.argv[1:5]
    sys.path[:0] = [task_root, runtime_dir]
    os.chdir(task_root)
    module_name, function_name = handler_name.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)

    class Invocation(BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            context = Context(float(self.headers["X-Timeout-Seconds"]))
            headers = {}
            try:
                payload = handler(event, context)
            except Exception as error:
                traceback.print_exc()
                headers["X-Function-Error"] = "Unhandled"
                payload = {"errorType": type(error).__name__, "errorMessage": str(error)}
            body = json.dumps(payload).encode()
            self.send_response(200)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(port)), Invocation).serve_forever()


if __name__ == "__main__":
    main()
