"""The deployed shape on loopback: the packaged template's functions run as
AWS runs them, against real MongoDB, Redis and SQS servers.

- each function is its bundle (deployment.zip) in processes of its own
  (devstack/aws/functions.py), with exactly the environment the template gives it:
  parameters, attributes and secret references resolved, Lambda's own
  variables, and nothing from the shell. One process serves one invocation
  at a time; a busy function gets another, and one that outlives its
  timeout is killed, as Lambda does.
- the gateway (devstack/aws/api_gateway/packaged.py) answers what API Gateway would from
  the template: REST proxy events (requestContext, stage, sourceIp) for the
  API function, the mock preflights Chalice wrote, and the Gateway Responses
  for unknown routes and failed functions.
- the secrets are Secrets Manager secrets (on the test SQS's moto server),
  their ARNs the template's parameters; each function reads its own through
  the Parameters and Secrets Extension's local interface
  (devstack/aws/secrets_extension.py), and the notifier's task is given its
  own as ECS gives them.
- the SQS event sources and the schedule come from the template (devstack's
  poller does the polling); the notifier runs as `python -m notifier` with
  the task definition's environment and secrets.
The stand-ins: SQS's endpoint (AWS_ENDPOINT_URL_SQS) and credentials are the
test servers', the extension's port is one per function
(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT), and ElastiCache's TLS is not
spoken by the test Redis."""
import subprocess
import sys
import threading
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import boto3
import yaml

from devstack.aws.api_gateway.packaged import Gateway
from devstack.aws.functions import RUNTIME_PACKAGES, Function, FunctionError
from devstack.aws.poller import Poller
from devstack.aws.secrets_extension import SecretsExtension
from devstack.services import ROOT, die_with_parent, free_port, wait_until_listening
from infra.topology import Topology, resources_of_type


class Deployment:
    """The packaged template at `sam_path`, running. `secrets` ({JWT_SECRET:
    value, ...}) are stored as Secrets Manager secrets whose ARNs are given
    to the template's parameters; `timeouts` shorten functions' timeouts, as
    a stage's lambda_timeout would."""

    def __init__(self, sam_path, work_dir, *, parameters, secrets, sqs_url, redis_port,
                 timeouts=None, region="us-east-1", stack="harness"):
        self.sam_path = Path(sam_path)
        self.template = yaml.safe_load(self.sam_path.read_text())
        self.work_dir, self.sqs_url = Path(work_dir), sqs_url
        self.region, self.stack = region, stack
        self.task_root, self.runtime_dir = self.work_dir / "task", self.work_dir / "runtime"
        self.log_dir = self.work_dir / "logs"
        self.secrets_manager = boto3.client("secretsmanager", endpoint_url=sqs_url,
                                            region_name=region)
        self.topology = Topology(self.template, {**self._store(secrets), **parameters},
                                 None, {"Redis": {"PrimaryEndPoint.Address": "127.0.0.1",
                                                  "PrimaryEndPoint.Port": str(redis_port)}},
                                 region=region, stack=stack)
        self.timeouts = timeouts or {}
        self.functions, self.url, self.notifier_url = {}, None, None
        self._poller, self._gateway, self._notifier = None, None, None
        self._extensions = []
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
            self._serve_secrets(self.functions[name])
        self._poller = Poller([(self.topology.queue_url(source.queue), self.functions[name],
                                source) for name, source in self.topology.consumers().items()])
        self._poller.start()
        for name, seconds in self.topology.schedules().items():
            threading.Thread(target=self._every, args=(self.functions[name], seconds),
                             daemon=True).start()
        self._gateway = Gateway(self.template, self.topology.resolve,
                                self.functions["APIHandler"])
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
        for extension in self._extensions:
            extension.stop()
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

    def _store(self, secrets):
        """Each secret stored once, as an operator creates them; {template
        parameter: its ARN}, the parameter read from where the template
        names it (a function's NAME_ARN, a container's secret NAME)."""
        arns = {}
        for name, value in secrets.items():
            arns[name] = self.secrets_manager.create_secret(
                Name=f"{self.stack}/{name}-{uuid.uuid4().hex[:6]}", SecretString=value)["ARN"]
        parameters = {}
        for resource in self.template["Resources"].values():
            properties = resource.get("Properties", {})
            for variable, value in properties.get("Environment", {}).get("Variables", {}).items():
                if variable.endswith("_ARN") and isinstance(value, dict) and "Ref" in value:
                    parameters[value["Ref"]] = arns[variable[:-len("_ARN")]]
            for container in properties.get("ContainerDefinitions", []):
                for secret in container.get("Secrets", []):
                    parameters[secret["ValueFrom"]["Ref"]] = arns[secret["Name"]]
        return parameters

    def _serve_secrets(self, function):
        """The extension beside the function: it reads Secrets Manager with
        the function's credentials, and asks for its session token."""
        extension = SecretsExtension(function.environment["AWS_SESSION_TOKEN"],
                                     self.secrets_manager.get_secret_value)
        self._extensions.append(extension)
        function.environment["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = str(extension.port)

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
        port = free_port()
        environment = task_environment(self.template, self.topology.resolve,
                                       self.secrets_manager.get_secret_value)
        # The container's port is published on a free one; the image sets HOST.
        environment.update({"NOTIFIER_PORT": str(port), "HOST": "127.0.0.1"})
        log = open(self.log_dir / "notifier.log", "ab")
        self._notifier = subprocess.Popen([sys.executable, "-m", "notifier"], cwd=ROOT,
                                          env=environment, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=die_with_parent)
        wait_until_listening(self._notifier, port, f"the notifier ({log.name})")
        self.notifier_url = f"http://127.0.0.1:{port}"


def task_environment(template, resolve, get_secret_value):
    """The notifier container's environment as ECS starts it: the task
    definition's variables, and its secrets read by ARN (with the execution
    role's rights: `get_secret_value`)."""
    container = template["Resources"]["NotifierTaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]
    environment = {item["Name"]: str(resolve(item["Value"])) for item in container["Environment"]}
    environment.update({item["Name"]: get_secret_value(
        SecretId=resolve(item["ValueFrom"]))["SecretString"] for item in container["Secrets"]})
    environment["REDIS_URL"] = _without_tls(environment["REDIS_URL"])
    return environment


def _without_tls(url):
    return url.replace("rediss://", "redis://", 1)


def scheduled_event(region, stack):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000",
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "detail": {},
            "resources": [f"arn:aws:events:{region}:000000000000:rule/{stack}-SweeperEvent"]}
