"""The deployed shape on loopback: the packaged template's functions run as
AWS runs them, against real MongoDB, Redis and SQS servers.

- each function is its bundle (deployment.zip) in processes of its own
  (infra/lambda_host.py), with exactly the environment the template gives it:
  parameters, attributes and secret references resolved, Lambda's own
  variables, and nothing from the shell. One process serves one invocation
  at a time; a busy function gets another, and one that outlives its
  timeout is killed, as Lambda does.
- the gateway answers what API Gateway would from the template: REST proxy
  events (requestContext, stage, sourceIp) for the API function, the mock
  preflights Chalice wrote, and the Gateway Responses for unknown routes and
  failed functions.
- the SQS event sources and the schedule come from the template (devstack's
  poller does the polling); the notifier runs as `python -m notifier` with
  the task definition's environment and secrets.
The stand-ins: SQS's endpoint (AWS_ENDPOINT_URL_SQS) and credentials are the
test servers', and ElastiCache's TLS is not spoken by the test Redis."""
import base64
import json
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import yaml

from devstack.poller import Poller
from devstack.services import free_port, wait_until_listening
from infra.topology import Topology, resources_of_type

ROOT = Path(__file__).resolve().parent.parent
HOST = Path(__file__).resolve().parent / "lambda_host.py"
# What Lambda's Python runtime provides besides the bundle.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six")
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:ai-content-generator/test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "harness", "AWS_SECRET_ACCESS_KEY": "harness",
               "AWS_SESSION_TOKEN": "harness"}
DEFAULT_STATUS = {"MISSING_AUTHENTICATION_TOKEN": "403", "DEFAULT_5XX": "502"}


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


class Deployment:
    """The packaged template at `sam_path`, running. `secrets` stand in for
    the Secrets Manager secret; `timeouts` shorten functions' timeouts, as a
    stage's lambda_timeout would."""

    def __init__(self, sam_path, work_dir, *, parameters, secrets, sqs_url, redis_port,
                 timeouts=None, region="us-east-1", stack="harness"):
        self.sam_path = Path(sam_path)
        self.template = yaml.safe_load(self.sam_path.read_text())
        self.work_dir, self.sqs_url = Path(work_dir), sqs_url
        self.region, self.stack = region, stack
        self.task_root, self.runtime_dir = self.work_dir / "task", self.work_dir / "runtime"
        self.log_dir = self.work_dir / "logs"
        self.topology = Topology(self.template, {"AppSecretArn": SECRET_ARN, **parameters},
                                 secrets, {"Redis": {"PrimaryEndPoint.Address": "127.0.0.1",
                                                     "PrimaryEndPoint.Port": str(redis_port)}},
                                 region=region, stack=stack)
        self.secrets, self.timeouts = secrets, timeouts or {}
        self.functions, self.url, self.notifier_url = {}, None, None
        self._poller, self._gateway, self._notifier = None, None, None
        self._stop = threading.Event()

    def start(self, sqs):
        try:
            self._start(sqs)
        except Exception:
            self.stop()
            raise
        return self

    def _start(self, sqs):
        self._unpack(self.sam_path.parent / "deployment.zip")
        self.topology.ensure_queues(sqs)
        for name in resources_of_type(self.template, "AWS::Serverless::Function"):
            self.functions[name] = Function(name, self.topology.function(name),
                                            self._environment(name), self,
                                            self.timeouts.get(name))
        self._poller = Poller([(self.topology.queue_url(source.queue), self.functions[name],
                                source) for name, source in self.topology.consumers().items()])
        self._poller.start()
        for name, seconds in self.topology.schedules().items():
            threading.Thread(target=self._every, args=(self.functions[name], seconds),
                             daemon=True).start()
        self._gateway = Gateway(self)
        self.url = self._gateway.url
        self._start_notifier()

    def stop(self):
        self._stop.set()
        if self._gateway:
            self._gateway.stop()
        if self._poller:
            self._poller.stop()
        for function in self.functions.values():
            function.stop()
        if self._notifier and self._notifier.poll() is None:
            self._notifier.terminate()
            self._notifier.wait(timeout=10)

    def _unpack(self, bundle):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(self.task_root)
        self.runtime_dir.mkdir(exist_ok=True)
        for name in RUNTIME_PACKAGES:
            module = __import__(name)
            source = Path(module.__file__)
            source = source.parent if source.name == "__init__.py" else source
            (self.runtime_dir / source.name).symlink_to(source)

    def _environment(self, name):
        environment = self.topology.environment(name)
        if "REDIS_URL" in environment:
            environment["REDIS_URL"] = _without_tls(environment["REDIS_URL"])
        return environment

    def _every(self, function, seconds):
        while not self._stop.wait(seconds):
            try:
                function.invoke(scheduled_event(self.region, self.stack))
            except FunctionError:
                pass

    def _start_notifier(self):
        container = self.template["Resources"]["NotifierTaskDefinition"]["Properties"][
            "ContainerDefinitions"][0]
        port = free_port()
        environment = {item["Name"]: self.topology.resolve(item["Value"])
                       for item in container["Environment"]}
        # A secret's ValueFrom is `<secret ARN>:<JSON key>::`.
        environment.update({item["Name"]: self.secrets[
            self.topology.resolve(item["ValueFrom"]).split(":")[-3]]
            for item in container["Secrets"]})
        environment["REDIS_URL"] = _without_tls(environment["REDIS_URL"])
        # The container's port is published on a free one; the image sets HOST.
        environment.update({"NOTIFIER_PORT": str(port), "HOST": "127.0.0.1"})
        log = open(self.log_dir / "notifier.log", "ab")
        self._notifier = subprocess.Popen([sys.executable, "-m", "notifier"], cwd=ROOT,
                                          env=environment, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_listening(self._notifier, port, f"the notifier ({log.name})")
        self.notifier_url = f"http://127.0.0.1:{port}"


def _without_tls(url):
    return url.replace("rediss://", "redis://", 1)


def scheduled_event(region, stack):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000",
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "detail": {},
            "resources": [f"arn:aws:events:{region}:000000000000:rule/{stack}-SweeperEvent"]}


class Gateway:
    """API Gateway's REST API from the template's DefinitionBody and
    Gateway Responses, on a loopback port."""

    def __init__(self, deployment):
        properties = deployment.template["Resources"]["RestAPI"]["Properties"]
        self.stage = properties["StageName"]
        self.body = properties["DefinitionBody"]
        self.resolve = deployment.topology.resolve
        self.api = deployment.functions["APIHandler"]
        self.responses = {resource["Properties"]["ResponseType"]: resource["Properties"]
                          for resource in resources_of_type(
                              deployment.template, "AWS::ApiGateway::GatewayResponse").values()}
        self.binary = set(self.body.get("x-amazon-apigateway-binary-media-types", []))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/{self.stage}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method, target, headers, body, source_ip):
        """(status, [(header, value)], body bytes)."""
        url = urlsplit(target)
        prefix = f"/{self.stage}"
        path = url.path[len(prefix):] if url.path.startswith(prefix + "/") else None
        route = self._route(path) if path else None
        methods = self.body["paths"][route[0]] if route else {}
        operation = methods.get(method.lower()) or methods.get("x-amazon-apigateway-any-method")
        if not operation:
            return self._gateway_response("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        integration = operation["x-amazon-apigateway-integration"]
        if integration["type"] == "mock":
            default = integration["responses"]["default"]
            parameters = self.resolve(default.get("responseParameters", {}))
            return int(default["statusCode"]), [
                (name.rsplit(".", 1)[-1], value.strip("'")) for name, value in parameters.items()
            ], b""
        event = self._proxy_event(method, route, path, url.query, headers, body, source_ip)
        try:
            result = self.api.invoke(event)
        except FunctionError:
            return self._gateway_response("DEFAULT_5XX", "Internal server error")
        payload = result.get("body") or ""
        payload = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        pairs = list((result.get("headers") or {}).items())
        pairs += [(name, value) for name, values in (result.get("multiValueHeaders") or {}).items()
                  for value in values]
        return int(result["statusCode"]), pairs, payload

    def _route(self, path):
        segments = path.strip("/").split("/")
        for template in self.body["paths"]:
            parts = template.strip("/").split("/")
            if len(parts) == len(segments) and all(
                    part.startswith("{") or part == segment
                    for part, segment in zip(parts, segments)):
                return template, {part[1:-1]: segment for part, segment in zip(parts, segments)
                                  if part.startswith("{")}
        return None

    def _proxy_event(self, method, route, path, query, headers, body, source_ip):
        resource, path_parameters = route
        multi_query = parse_qs(query, keep_blank_values=True) if query else None
        binary = headers.get("Content-Type", "").split(";")[0] in self.binary
        now = time.time()
        return {
            "resource": resource, "path": path, "httpMethod": method,
            "headers": dict(headers.items()) or None,
            "multiValueHeaders": {name: headers.get_all(name) for name in headers.keys()} or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()}
            if multi_query else None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None, "stageVariables": None,
            "requestContext": {
                "resourceId": "harness", "resourcePath": resource, "httpMethod": method,
                "extendedRequestId": str(uuid.uuid4()), "requestId": str(uuid.uuid4()),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000), "path": f"/{self.stage}{path}",
                "accountId": "000000000000", "protocol": "HTTP/1.1", "stage": self.stage,
                "domainPrefix": "harness", "domainName": headers.get("Host", ""),
                "apiId": "harness",
                "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent"),
                             "accessKey": None, "accountId": None, "caller": None,
                             "cognitoIdentityId": None, "user": None, "userArn": None}},
            "body": (base64.b64encode(body).decode() if binary else body.decode())
            if body else None,
            "isBase64Encoded": bool(body) and binary,
        }

    def _gateway_response(self, kind, message):
        properties = self.responses.get(kind, {})
        status = int(properties.get("StatusCode", DEFAULT_STATUS[kind]))
        template = properties.get("ResponseTemplates", {}).get(
            "application/json", '{"message":$context.error.messageString}')
        body = template.replace("$context.error.messageString", json.dumps(message)).encode()
        headers = [("Content-Type", "application/json")] + [
            (name.rsplit(".", 1)[-1], value.strip("'"))
            for name, value in self.resolve(properties.get("ResponseParameters", {})).items()]
        return status, headers, body

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = gateway.answer(
                    self.command, self.path, self.headers, body, self.client_address[0])
                self.send_response(status)
                for name, value in headers:
                    if name.lower() != "content-length":
                        self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _any

            def log_message(self, *args):
                pass

        return Handler
