"""The deployment, checked offline: the packaged SAM templates pass cfn-lint,
and the settings that matter are asserted on."""
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from chalicelib import settings
from infra.package import package

ROOT = Path(__file__).resolve().parent.parent
CHALICE = json.loads((ROOT / ".chalice" / "config.json").read_text())


@pytest.fixture(scope="module")
def dev_template_path():
    return package("dev")


@pytest.fixture(scope="module")
def template(dev_template_path):
    return yaml.safe_load(dev_template_path.read_text())


@pytest.fixture(scope="module")
def resources(template):
    return template["Resources"]


def lint(path):
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True)


def test_the_aws_template_passes_cfn_lint(dev_template_path):
    result = lint(dev_template_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_localstack_template_passes_cfn_lint():
    result = lint(package("localstack"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_job_queue_redrives_to_the_dead_letter_queue(resources):
    queue = resources["JobsQueue"]["Properties"]
    assert queue["QueueName"] == "generation-jobs"
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue",
                                                                             "Arn"]},
                                      "maxReceiveCount": 5}
    assert resources["DeadLetterQueue"]["Properties"]["QueueName"] == "generation-jobs-dlq"


def test_visibility_timeouts_are_six_times_their_consumers_timeout(resources):
    assert resources["JobsQueue"]["Properties"]["VisibilityTimeout"] >= \
        6 * resources["Worker"]["Properties"]["Timeout"]
    assert resources["DeadLetterQueue"]["Properties"]["VisibilityTimeout"] >= \
        6 * resources["DeadLetters"]["Properties"]["Timeout"]


@pytest.mark.parametrize("function, event, queue", [
    ("Worker", "WorkerSqsEventSource", "generation-jobs"),
    ("DeadLetters", "DeadLettersSqsEventSource", "generation-jobs-dlq"),
])
def test_consumers_report_batch_item_failures(resources, function, event, queue):
    source = resources[function]["Properties"]["Events"][event]
    assert source["Type"] == "SQS"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["BatchSize"] == 10
    assert source["Properties"]["Queue"]["Fn::Sub"].endswith(f":{queue}")


def test_handlers_are_the_apps_own(resources):
    assert [resources[name]["Properties"]["Handler"]
            for name in ("APIHandler", "Worker", "DeadLetters")] == \
        ["app.app", "app.process_jobs", "app.process_dead_letters"]


def test_secrets_come_from_secrets_manager(resources):
    for name in ("APIHandler", "Worker", "DeadLetters", "Sweeper"):
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        assert variables["STAGE"] == "dev"
        for secret in ("JWT_SECRET", "MONGODB_URI", "OPENROUTER_API_KEY"):
            assert variables[secret] == ("{{resolve:secretsmanager:ai-content-generator/dev:"
                                         f"SecretString:{secret}}}}}")


def test_the_workers_reach_redis_over_tls(resources):
    for name in ("Worker", "DeadLetters"):
        url = resources[name]["Properties"]["Environment"]["Variables"]["REDIS_URL"]
        assert url["Fn::Sub"].startswith("rediss://${Redis.PrimaryEndPoint.Address}")


SECRETS = ("JWT_SECRET", "OPENROUTER_API_KEY", "MONGODB_URI")
SECRET_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:[\w/-]+:SecretString:\w+\}\}"
                              r"|\$\{\w+:\?[^}]+\}")


def secret_values(node):
    """Every value given to a secret's name, anywhere in a loaded document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRETS and isinstance(value, str):
                yield key, value
            yield from secret_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from secret_values(item)


def test_no_template_or_config_holds_a_secret_value(template):
    documents = [template, CHALICE,
                 yaml.safe_load((ROOT / "localstack-compose.yml").read_text())]
    found = [pair for document in documents for pair in secret_values(document)]
    assert {name for name, _ in found} == set(SECRETS)
    for name, value in found:
        local_database = name == "MONGODB_URI" and re.fullmatch(r"mongodb://[\w-]+:\d+", value)
        assert SECRET_REFERENCE.fullmatch(value) or local_database, (name, value)
    text = json.dumps(documents)
    assert not re.search(r"sk-or-[\w-]{8,}|AKIA[0-9A-Z]{16}|://[^/\s\"]*:[^/\s\"@]+@", text)


def policy_actions(resources, function):
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return {action: statement["Resource"] for statement in statements
            for action in statement["Action"]}


def test_the_api_may_only_send_to_the_job_queue(resources):
    actions = policy_actions(resources, "APIHandler")
    assert {a for a in actions if a.startswith("sqs:")} == {"sqs:GetQueueUrl", "sqs:SendMessage"}
    assert actions["sqs:SendMessage"] == "arn:*:sqs:*:*:generation-jobs"
    assert not any(a.startswith(("ec2:", "s3:", "dynamodb:")) for a in actions)


def test_the_worker_may_only_consume_the_job_queue(resources):
    actions = policy_actions(resources, "Worker")
    assert {a for a in actions if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"}
    assert actions["sqs:ReceiveMessage"] == "arn:*:sqs:*:*:generation-jobs"


def test_the_dead_letter_consumer_may_only_consume_the_dead_letter_queue(resources):
    actions = policy_actions(resources, "DeadLetters")
    assert {a for a in actions if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert actions["sqs:ReceiveMessage"] == "arn:*:sqs:*:*:generation-jobs-dlq"


def test_the_sweeper_runs_every_five_minutes_and_may_only_send(resources):
    sweeper = resources["Sweeper"]["Properties"]
    assert sweeper["Handler"] == "app.sweep_stale_jobs"
    schedule = next(iter(sweeper["Events"].values()))
    assert (schedule["Type"], schedule["Properties"]["Schedule"]) == ("Schedule",
                                                                      "rate(5 minutes)")
    actions = policy_actions(resources, "Sweeper")
    assert {a for a in actions if a.startswith("sqs:")} == {"sqs:GetQueueUrl", "sqs:SendMessage"}


def test_unknown_routes_and_gateway_errors_use_the_message_shape(resources):
    responses = {resource["Properties"]["ResponseType"]: resource["Properties"]
                 for resource in resources.values()
                 if resource["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"][
        "application/json"]) == {"message": "Not found"}
    assert json.loads(responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"]) == \
        {"message": "Server error"}
    assert "message" in responses["DEFAULT_4XX"]["ResponseTemplates"]["application/json"]


def test_the_notifier_runs_behind_a_sticky_load_balancer(resources):
    group = resources["NotifierTargetGroup"]["Properties"]
    attributes = {item["Key"]: item["Value"] for item in group["TargetGroupAttributes"]}
    assert attributes == {"stickiness.enabled": "true", "stickiness.type": "lb_cookie"}
    assert group["HealthCheckPath"] == "/health"
    container = resources["NotifierTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {secret["Name"] for secret in container["Secrets"]} == {"JWT_SECRET", "MONGODB_URI"}
    assert resources["NotifierService"]["Properties"]["LaunchType"] == "FARGATE"


def test_timeouts_and_memory_are_set_per_function(resources):
    assert [(resources[name]["Properties"]["Timeout"], resources[name]["Properties"]["MemorySize"])
            for name in ("APIHandler", "Worker", "DeadLetters")] == \
        [(15, 512), (60, 256), (30, 256)]


def test_the_compose_file_describes_the_whole_stack():
    compose = yaml.safe_load((ROOT / "localstack-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"localstack", "mongodb", "redis", "notifier"}
    for name in ("localstack", "mongodb", "redis"):
        image = services[name]["image"]
        assert re.fullmatch(r"[\w/.-]+:\d+(\.\d+)+", image), image
    assert services["localstack"]["environment"]["LOCALSTACK_AUTH_TOKEN"] == \
        "${LOCALSTACK_AUTH_TOKEN:?set LOCALSTACK_AUTH_TOKEN}"
    assert services["localstack"]["ports"] == ["127.0.0.1:4566:4566"]
    assert services["notifier"]["build"] == {"context": ".", "dockerfile": "notifier/Dockerfile"}
    notifier = services["notifier"]["environment"]
    assert notifier["REDIS_URL"] == "redis://redis:6379/0"
    assert notifier["JWT_SECRET"] == "${JWT_SECRET:?set JWT_SECRET}"
    assert (ROOT / "notifier" / "Dockerfile").is_file()


def test_the_api_stage_throttles_every_route_by_parameters(template, resources):
    method_settings = resources["RestAPI"]["Properties"]["MethodSettings"]
    assert method_settings == [{"ResourcePath": "/*", "HttpMethod": "*",
                         "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
                         "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}]
    for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"):
        assert template["Parameters"][name]["Type"] == "Number"
    throttled = next(r["Properties"] for r in resources.values()
                     if r["Type"] == "AWS::ApiGateway::GatewayResponse"
                     and r["Properties"]["ResponseType"] == "THROTTLED")
    assert throttled["StatusCode"] == "429"
    assert "message" in json.loads(throttled["ResponseTemplates"]["application/json"])
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_the_workers_concurrency_is_bounded_by_a_parameter(template, resources):
    source = resources["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerMaximumConcurrency"}}
    assert template["Parameters"]["WorkerMaximumConcurrency"]["Default"] == 5


LIMITS = {"MAX_ACTIVE_JOBS_PER_USER": ("MaxActiveJobsPerUser", 5),
          "MAX_JOBS_PER_DAY": ("MaxJobsPerDay", 100),
          "LOGIN_MAX_FAILURES": ("LoginMaxFailures", 5),
          "LOGIN_LOCKOUT_SECONDS": ("LoginLockoutSeconds", 900),
          "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": ("LoginAttemptsPerIpPerMinute", 30),
          "REGISTRATIONS_PER_IP_PER_MINUTE": ("RegistrationsPerIpPerMinute", 30)}


def test_the_limit_settings_reach_the_api_as_parameters_with_the_apps_defaults(template,
                                                                               resources):
    defaults = settings.from_env({"JWT_SECRET": "x" * 32, "MONGODB_URI": "mongodb://db"})
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    for variable, (parameter, default) in LIMITS.items():
        assert variables[variable] == {"Ref": parameter}
        assert template["Parameters"][parameter]["Default"] == default
        assert getattr(defaults, variable.lower()) == default


def alarms(resources):
    return {name: resource["Properties"] for name, resource in resources.items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_alarm_notifies_the_topic_parameter(template, resources):
    assert template["Parameters"]["AlarmTopicArn"]["Type"] == "String"
    assert set(alarms(resources)) == {
        "DeadLetterQueueDepthAlarm", "JobsDeadLetteredAlarm", "WorkerErrorRateAlarm",
        "JobFailureRateAlarm", "JobsQueueOldestMessageAlarm", "Api5xxAlarm"}
    for alarm in alarms(resources).values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopicArn"}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_a_message_in_the_dead_letter_queue_alarms(resources):
    depth = alarms(resources)["DeadLetterQueueDepthAlarm"]
    assert (depth["Namespace"], depth["MetricName"]) == ("AWS/SQS",
                                                         "ApproximateNumberOfMessagesVisible")
    assert depth["Dimensions"] == [{"Name": "QueueName",
                                    "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}]
    arrivals = alarms(resources)["JobsDeadLetteredAlarm"]
    assert (arrivals["Namespace"], arrivals["MetricName"]) == ("AIContentGenerator",
                                                               "JobsDeadLettered")
    assert arrivals["Dimensions"] == [{"Name": "stage", "Value": {"Ref": "Stage"}}]
    for alarm in (depth, arrivals):
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_worker_error_rate_alarms_on_its_own_function(resources):
    alarm = alarms(resources)["WorkerErrorRateAlarm"]
    stats = {query["Id"]: query["MetricStat"]["Metric"] for query in alarm["Metrics"]
             if "MetricStat" in query}
    assert {name: (metric["Namespace"], metric["MetricName"], metric["Dimensions"])
            for name, metric in stats.items()} == {
        "errors": ("AWS/Lambda", "Errors", [{"Name": "FunctionName",
                                             "Value": {"Ref": "Worker"}}]),
        "invocations": ("AWS/Lambda", "Invocations", [{"Name": "FunctionName",
                                                       "Value": {"Ref": "Worker"}}])}
    assert alarm["Threshold"] == 5


def test_the_job_failure_rate_alarm_reads_the_services_own_metrics(resources):
    alarm = alarms(resources)["JobFailureRateAlarm"]
    names = {query["MetricStat"]["Metric"]["MetricName"] for query in alarm["Metrics"]
             if "MetricStat" in query}
    assert names == {"JobsCompleted", "JobsFailed", "JobsErrored"}


def test_a_job_message_older_than_the_delay_and_a_margin_alarms(template, resources):
    alarm = alarms(resources)["JobsQueueOldestMessageAlarm"]
    assert (alarm["MetricName"], alarm["Threshold"]) == ("ApproximateAgeOfOldestMessage",
                                                         {"Ref": "JobQueueAgeAlarmSeconds"})
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    delay = int(CHALICE["stages"]["dev"]["environment_variables"]["GENERATION_DELAY_SECONDS"])
    assert template["Parameters"]["JobQueueAgeAlarmSeconds"]["Default"] > delay + 300


def test_api_5xx_responses_alarm_for_the_apps_gateway(resources):
    alarm = alarms(resources)["Api5xxAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": CHALICE["app_name"]},
        {"Name": "Stage", "Value": CHALICE["stages"]["dev"]["api_gateway_stage"]}]


def test_the_lambda_bundle_holds_the_docs_renderer(dev_template_path):
    with zipfile.ZipFile(dev_template_path.parent / "deployment.zip") as bundle:
        packaged = bundle.read("chalicelib/redoc.standalone.js")
    assert packaged == (ROOT / "web" / "vendor" / "redoc.standalone.js").read_bytes()
