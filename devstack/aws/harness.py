"""The deployed shape on loopback: the packaged template's functions run as
AWS runs them, against real MongoDB and Redis servers and an AWS account
that enforces IAM.

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
- AWS is an account of the harness's own that enforces IAM
  (devstack/aws/account.py): each function runs with the credentials of its
  role, created with exactly the policies the template gives it, and so do
  the calls Lambda makes for it: the SQS event sources poll with it, the
  Parameters and Secrets Extension (devstack/aws/secrets_extension.py)
  reads the function's secrets with it, and its output reaches its
  CloudWatch Logs group with it. The notifier's task is given its secrets
  with its execution role's, as ECS gives them, and has no credentials of
  its own, as its task definition names no task role.
- the secrets are Secrets Manager secrets, their ARNs the template's
  parameters; the mail identity is verified in SES.
- the SQS event sources and the schedule come from the template (devstack's
  poller does the polling); the notifier runs as `python -m notifier` with
  the task definition's environment and secrets.
The stand-ins: AWS's endpoint (AWS_ENDPOINT_URL) is the harness's account,
the extension's port is one per function
(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT), and ElastiCache's TLS is not
spoken by the test Redis."""
import subprocess
import sys
import threading
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import yaml
from botocore.config import Config

from devstack.aws.account import Account
from devstack.aws.api_gateway.packaged import Gateway
from devstack.aws.functions import RUNTIME_PACKAGES, Function, FunctionError
from devstack.aws.poller import RECEIVE_TIMEOUT_SECONDS, Poller
from devstack.aws.secrets_extension import SecretsExtension
from devstack.services import ROOT, die_with_parent, free_port, wait_until_listening
from infra.topology import Topology, resources_of_type


class Deployment:
    """The packaged template at `sam_path`, running. `secrets` ({JWT_SECRET:
    value, ...}) are stored as Secrets Manager secrets whose ARNs are given
    to the template's parameters; `timeouts` shorten functions' timeouts, as
    a stage's lambda_timeout would."""

    def __init__(self, sam_path, work_dir, *, parameters, secrets, redis_port,
                 timeouts=None, region="us-east-1", stack="harness"):
        self.sam_path = Path(sam_path)
        self.template = yaml.safe_load(self.sam_path.read_text())
        self.work_dir = Path(work_dir)
        self.region, self.stack = region, stack
        self.task_root, self.runtime_dir = self.work_dir / "task", self.work_dir / "runtime"
        self.log_dir = self.work_dir / "logs"
        self._parameters, self._secrets, self._redis_port = parameters, secrets, redis_port
        self.timeouts = timeouts or {}
        self.account, self.topology = None, None
        self.functions, self.url, self.notifier_url = {}, None, None
        self._poller, self._gateway, self._notifier = None, None, None
        self._extensions = []
        self._stop = threading.Event()

    def start(self):
        try:
            self._start()
        except Exception:
            self.stop()
            raise
        return self

    def _start(self):
        self._unpack(self.sam_path.parent / "deployment.zip")
        self.account = Account(self.log_dir, self.region)
        # As CloudFormation and the operator set the stack up.
        attributes = {"Redis": {"PrimaryEndPoint.Address": "127.0.0.1",
                                "PrimaryEndPoint.Port": str(self._redis_port)}}
        self.topology = Topology(self.template, {**self._store(self._secrets), **self._parameters},
                                 None, attributes, region=self.region,
                                 account=self.account.id, stack=self.stack)
        self.topology.ensure_queues(self.account.client("sqs"))
        self.account.client("sesv2").create_email_identity(
            EmailIdentity=self.topology.resolve({"Ref": "MailIdentity"}))
        attributes.update(self.account.create_roles(self.template, self.topology.resolve,
                                                    self.stack))
        for name, properties in resources_of_type(self.template,
                                                  "AWS::Serverless::Function").items():
            credentials = self.account.assume(self.topology.resolve(
                properties["Properties"]["Role"]), f"{self.stack}-{name}")
            self.functions[name] = Function(name, self.topology.function(name),
                                            self._environment(name), credentials, self,
                                            self.timeouts.get(name))
            self._serve_secrets(self.functions[name])
        task_definition = self.template["Resources"]["NotifierTaskDefinition"]["Properties"]
        execution = self.account.assume(self.topology.resolve(
            task_definition["ExecutionRoleArn"]), "ecs-task-execution")
        self.account.enforce()
        self._poller = Poller([(self.topology.queue_url(source.queue), self.functions[name],
                                source) for name, source in self.topology.consumers().items()],
                              sqs=self._event_source_client)
        self._poller.start()
        for name, seconds in self.topology.schedules().items():
            threading.Thread(target=self._every, args=(self.functions[name], seconds),
                             daemon=True).start()
        self._gateway = Gateway(self.template, self.topology.resolve,
                                self.functions["APIHandler"])
        self.url = self._gateway.url
        self._start_notifier(execution)

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
        if self.account:
            self.account.stop()

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
        secrets_manager = self.account.client("secretsmanager")
        arns = {}
        for name, value in secrets.items():
            arns[name] = secrets_manager.create_secret(
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
        secrets_manager = self.account.client("secretsmanager", function.credentials)
        extension = SecretsExtension(function.environment["AWS_SESSION_TOKEN"],
                                     secrets_manager.get_secret_value)
        self._extensions.append(extension)
        function.environment["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = str(extension.port)

    def _event_source_client(self, source):
        """An event source mapping polls with its function's role."""
        return self.account.client("sqs", self.functions[source.function].credentials,
                                   config=Config(read_timeout=RECEIVE_TIMEOUT_SECONDS))

    def _environment(self, name):
        environment = self.topology.environment(name)
        if "REDIS_URL" in environment:
            environment["REDIS_URL"] = _without_tls(environment["REDIS_URL"])
        return environment

    def _every(self, function, seconds):
        while not self._stop.wait(seconds):
            try:
                function.invoke(scheduled_event(self.region, self.account.id, self.stack))
            except FunctionError:
                pass

    def _start_notifier(self, execution):
        port = free_port()
        secrets_manager = self.account.client("secretsmanager", execution)
        environment = task_environment(self.template, self.topology.resolve,
                                       secrets_manager.get_secret_value)
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


def scheduled_event(region, account, stack):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": account,
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "detail": {},
            "resources": [f"arn:aws:events:{region}:{account}:rule/{stack}-SweeperEvent"]}
