"""The topology as a template describes it: queues, event sources and
schedules, read from infra/topology.yml for local runs or from a packaged
template for the deployed-shape harness, with parameters resolved as
CloudFormation resolves them."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from chalicelib import settings

TOPOLOGY = Path(__file__).resolve().parent / "topology.yml"
RATE = re.compile(r"rate\((\d+) (second|minute|hour|day)s?\)")
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SECRET = re.compile(r"\{\{resolve:secretsmanager:[^:]+:SecretString:(\w+)\}\}")
NO_VALUE = {"Ref": "AWS::NoValue"}


class TemplateError(Exception):
    """The template asks for something this reader does not resolve."""


@dataclass(frozen=True)
class Consumer:
    """An SQS event source mapping."""
    function: str
    queue: str
    batch_size: int
    report_failures: bool
    max_concurrency: int


class Resolver:
    """Evaluates the intrinsics the templates use (Ref, Fn::GetAtt, Fn::Sub,
    Fn::If and secret references) against parameters, the pseudo parameters
    and what `attribute(logical_id, name)` says about resources; `condition`
    evaluates the template's Conditions."""

    def __init__(self, template, parameters=None, attribute=None, secrets=None,
                 region="us-east-1", account="000000000000", stack="local"):
        declared = template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise TemplateError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        self.parameters = {name: str(spec["Default"]) for name, spec in declared.items()
                           if "Default" in spec}
        self.parameters.update({name: str(value) for name, value in (parameters or {}).items()})
        self.parameters.update({"AWS::Region": region, "AWS::AccountId": account,
                                "AWS::Partition": "aws", "AWS::StackName": stack,
                                "AWS::URLSuffix": "amazonaws.com"})
        self.attribute = attribute
        self.secrets = secrets or {}
        self.conditions = template.get("Conditions", {})

    def __call__(self, node):
        return self._resolve(self.choose(node))

    def _resolve(self, node):
        if isinstance(node, list):
            return [self._resolve(item) for item in node]
        if isinstance(node, str):
            return SECRET.sub(lambda match: self._secret(match.group(1)), node)
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self._ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            return self._get_att(*node["Fn::GetAtt"])
        if set(node) == {"Fn::Sub"}:
            return re.sub(r"\$\{([\w:.]+)\}", lambda match: self._sub(match.group(1)),
                          self._resolve(node["Fn::Sub"]))
        return {key: self._resolve(value) for key, value in node.items()}

    def choose(self, node):
        """`node` with each Fn::If replaced by the branch its condition picks
        and each AWS::NoValue left out, its other intrinsics as written: so
        a list naming resources (a policy's Roles) is read before they exist."""
        if isinstance(node, list):
            return [item for item in map(self.choose, node) if item != NO_VALUE]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::If"}:
            name, holds, fails = node["Fn::If"]
            return self.choose(holds if self.condition(name) else fails)
        return {key: value for key, value in
                ((key, self.choose(value)) for key, value in node.items()) if value != NO_VALUE}

    def condition(self, name) -> bool:
        """Whether the condition `name` holds; no condition (None) always does."""
        return name is None or self._holds(self.conditions[name])

    def _holds(self, node):
        (function, arguments), = node.items()
        if function == "Condition":
            return self.condition(arguments)
        if function == "Fn::Equals":
            first, second = self(arguments)
            return str(first) == str(second)
        if function == "Fn::Not":
            return not self._holds(arguments[0])
        if function == "Fn::And":
            return all(self._holds(argument) for argument in arguments)
        if function == "Fn::Or":
            return any(self._holds(argument) for argument in arguments)
        raise TemplateError(f"unsupported condition function {function}")

    def _ref(self, name):
        if name in self.parameters:
            return self.parameters[name]
        return self._get_att(name, "Ref")

    def _get_att(self, logical_id, name):
        if self.attribute is None:
            raise TemplateError(f"nothing resolves {logical_id}.{name}")
        return self.attribute(logical_id, name)

    def _sub(self, name):
        if name in self.parameters:
            return self.parameters[name]
        logical_id, _, attribute = name.partition(".")
        return str(self._get_att(logical_id, attribute) if attribute else self._ref(name))

    def _secret(self, key):
        if key not in self.secrets:
            raise TemplateError(f"no value for the secret {key}")
        return self.secrets[key]


def load(path=TOPOLOGY) -> dict:
    return with_setting_bounds(yaml.safe_load(Path(path).read_text()))


def with_setting_bounds(template) -> dict:
    """Each parameter that a function's or a container's variable is set
    from, and that names a number of chalicelib/settings.py, takes that
    number's default and bounds, which are written there alone."""
    for variable, value in _variables(template):
        if variable in settings.NUMBERS and isinstance(value, dict) and "Ref" in value:
            default, low, high = settings.NUMBERS[variable]
            parameters = template["Parameters"]
            spec = parameters[value["Ref"]]
            parameters[value["Ref"]] = {**spec, "Default": default,
                                        "MinValue": low, "MaxValue": high}
    return template


def _variables(template):
    """(name, value) of every environment variable the template sets: the
    functions' (a mapping) and the containers' (a list of Name and Value)."""
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        yield from properties.get("Environment", {}).get("Variables", {}).items()
        for container in properties.get("ContainerDefinitions", []):
            for variable in container.get("Environment", []):
                yield variable["Name"], variable.get("Value")


def local(parameters=None) -> "Topology":
    """infra/topology.yml as `make run` and the test stacks build it."""
    return Topology(load(), parameters)


def resources_of_type(template, kind):
    return {name: resource for name, resource in template["Resources"].items()
            if resource.get("Type") == kind}


class Queues:
    """The template's queues, created as CloudFormation creates them: each
    before the queues whose redrive policy names it."""

    def __init__(self, template):
        self.resources = resources_of_type(template, "AWS::SQS::Queue")
        self.sqs = None
        self.urls = {}

    def ensure(self, sqs, resolve) -> dict:
        """{logical id: queue URL}, every queue created."""
        self.sqs = sqs
        for logical_id in self.resources:
            self._url(logical_id, resolve)
        return self.urls

    def attribute(self, logical_id, name, resolve):
        if name == "QueueName":
            return resolve(self.resources[logical_id]["Properties"]["QueueName"])
        url = self._url(logical_id, resolve)
        if name == "Ref":
            return url
        if name == "Arn":
            return self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        raise TemplateError(f"{logical_id}.{name} is not a queue attribute")

    def _url(self, logical_id, resolve):
        if logical_id not in self.urls:
            if self.sqs is None:
                raise TemplateError(f"{logical_id} is named before the queues exist")
            properties = resolve(self.resources[logical_id]["Properties"])
            name = properties.pop("QueueName")
            if "RedrivePolicy" in properties:
                properties["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
            self.urls[logical_id] = self.sqs.create_queue(QueueName=name, Attributes={
                key: str(value) for key, value in properties.items()})["QueueUrl"]
        return self.urls[logical_id]


class Topology:
    """A template with its parameters: its queues, event sources, schedules
    and each function's environment. `attributes` answers Fn::GetAtt for
    resources other than queues (the harness's Redis, say)."""

    def __init__(self, template, parameters=None, secrets=None, attributes=None, **pseudo):
        self.template = template
        self.queues = Queues(template)
        self._attributes = attributes or {}
        self.resolve = Resolver(template, parameters, self._attribute, secrets, **pseudo)

    def _attribute(self, logical_id, name):
        if logical_id in self.queues.resources:
            return self.queues.attribute(logical_id, name, self.resolve)
        try:
            return self._attributes[logical_id][name]
        except KeyError:
            raise TemplateError(f"nothing resolves {logical_id}.{name}") from None

    def ensure_queues(self, sqs) -> dict:
        return self.queues.ensure(sqs, self.resolve)

    def queue_url(self, name) -> str:
        return next(url for url in self.queues.urls.values() if url.rsplit("/", 1)[-1] == name)

    def function(self, logical_id) -> dict:
        return self.template["Resources"][logical_id]["Properties"]

    def environment(self, logical_id, names=None) -> dict:
        """The function's environment variables, resolved; only `names` if given."""
        variables = self.function(logical_id).get("Environment", {}).get("Variables", {})
        return {name: str(self.resolve(value)) for name, value in variables.items()
                if names is None or name in names}

    def consumers(self) -> dict:
        """{function logical id: Consumer} for every SQS event source."""
        found = {}
        for function, event in self._events("SQS"):
            properties = self.resolve(event["Properties"])
            found[function] = Consumer(
                function=function, queue=properties["Queue"].rsplit(":", 1)[-1],
                batch_size=int(properties.get("BatchSize", 10)),
                report_failures="ReportBatchItemFailures" in properties.get(
                    "FunctionResponseTypes", []),
                max_concurrency=int(properties.get("ScalingConfig", {}).get(
                    "MaximumConcurrency", 1)))
        return found

    def schedules(self) -> dict:
        """{function logical id: seconds between runs} for every rate schedule.
        A rate in seconds is accepted for local runs only; EventBridge's
        smallest is one minute."""
        found = {}
        for function, event in self._events("Schedule"):
            expression = self.resolve(event["Properties"]["Schedule"])
            match = RATE.fullmatch(expression)
            if match is None:
                raise TemplateError(f"{function}: unsupported schedule {expression!r}")
            found[function] = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
        return found

    def _events(self, kind):
        for function, resource in self.template["Resources"].items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") == kind:
                    yield function, event
