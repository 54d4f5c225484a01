"""The deployment, checked offline: the packaged SAM templates pass cfn-lint,
and the settings that matter are asserted on, for AWS and LocalStack alike."""
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from chalicelib import contract, settings
from infra.topology import Resolver
from tests.support import DEPLOYED_ORIGIN, STAGES

ROOT = Path(__file__).resolve().parent.parent
CHALICE = json.loads((ROOT / ".chalice" / "config.json").read_text())
FUNCTIONS = ("APIHandler", "Worker", "DeadLetters", "Sweeper")
SECRETS = ("JWT_SECRET", "OPENROUTER_API_KEY", "MONGODB_URI", "REDIS_AUTH_TOKEN")
# What each function's code reads outside the local stage: settings.get()
# needs MONGODB_URI, importing app.py needs CORS_ORIGIN, and each reads the
# rest where it uses it.
NEEDS = {
    "APIHandler": {"STAGE", "CORS_ORIGIN", "MONGODB_URI", "JWT_SECRET", "JOBS_QUEUE_NAME"},
    "Worker": {"STAGE", "CORS_ORIGIN", "MONGODB_URI", "JOBS_QUEUE_NAME", "OPENROUTER_API_KEY",
               "REDIS_URL"},
    "DeadLetters": {"STAGE", "CORS_ORIGIN", "MONGODB_URI", "REDIS_URL"},
    "Sweeper": {"STAGE", "CORS_ORIGIN", "MONGODB_URI", "JOBS_QUEUE_NAME"},
}
SECRETS_READ = {
    "APIHandler": {"JWT_SECRET", "MONGODB_URI"},
    "Worker": {"MONGODB_URI", "OPENROUTER_API_KEY", "REDIS_AUTH_TOKEN"},
    "DeadLetters": {"MONGODB_URI", "REDIS_AUTH_TOKEN"},
    "Sweeper": {"MONGODB_URI"},
    "notifier": {"JWT_SECRET", "MONGODB_URI", "REDIS_AUTH_TOKEN"},
}


@pytest.fixture(params=STAGES, scope="module")
def stage(request):
    return request.param


@pytest.fixture(scope="module")
def template(packaged, stage):
    return yaml.safe_load(packaged[stage].read_text())


@pytest.fixture(scope="module")
def resources(template):
    return template["Resources"]


@pytest.fixture(scope="module")
def aws(packaged):
    """The AWS stage's whole template (the limits, throttling and alarms are
    AWS's; LocalStack runs the topology alone)."""
    return yaml.safe_load(packaged["dev"].read_text())


@pytest.fixture(scope="module")
def dev(packaged):
    return yaml.safe_load(packaged["dev"].read_text())["Resources"]


def parameter(template, name):
    return Resolver(template)({"Ref": name})


def variables(resources, function):
    return resources[function]["Properties"]["Environment"]["Variables"]


def settings_given(resources, function):
    """The names of the settings a function gets, a secret given by its ARN
    (NAME_ARN) counted as NAME."""
    return {name.removesuffix("_ARN") if name.removesuffix("_ARN") in SECRETS else name
            for name in variables(resources, function)}


def test_the_packaged_template_passes_cfn_lint(packaged, stage):
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(packaged[stage])], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packaging_without_an_origin_stops_with_one_line():
    env = {name: value for name, value in os.environ.items() if name != "CORS_ORIGIN"}
    result = subprocess.run([sys.executable, "-m", "infra.package", "prod"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "make package: CORS_ORIGIN must be set to the frontend's origin for stage prod"]


def test_the_preflight_and_every_function_name_the_one_origin_parameter(template, resources):
    assert template["Parameters"]["CorsOrigin"]["Default"] == DEPLOYED_ORIGIN
    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    preflights = [path["options"]["x-amazon-apigateway-integration"]["responses"]["default"]
                  ["responseParameters"]["method.response.header.Access-Control-Allow-Origin"]
                  for path in paths.values()]
    assert preflights and all(origin == {"Fn::Sub": "'${CorsOrigin}'"} for origin in preflights)
    for function in FUNCTIONS:
        assert variables(resources, function)["CORS_ORIGIN"] == {"Ref": "CorsOrigin"}


def test_every_other_method_of_a_route_reaches_the_api(resources):
    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for path in paths.values():
        integration = path["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "${APIHandler.Arn}" in integration["uri"]["Fn::Sub"]


def test_the_job_queue_redrives_to_the_dead_letter_queue(template, resources):
    queue = resources["JobsQueue"]["Properties"]
    assert parameter(template, "JobsQueueName") == "generation-jobs"
    assert queue["QueueName"] == {"Ref": "JobsQueueName"}
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"}}
    assert parameter(template, "MaxReceiveCount") == "5"
    assert parameter(template, "DeadLetterQueueName") == "generation-jobs-dlq"


def test_visibility_timeouts_are_six_times_their_consumers_timeout(template, resources):
    for queue, consumer in (("JobsQueue", "Worker"), ("DeadLetterQueue", "DeadLetters")):
        visibility = Resolver(template)(resources[queue]["Properties"]["VisibilityTimeout"])
        assert int(visibility) >= 6 * resources[consumer]["Properties"]["Timeout"]


@pytest.mark.parametrize("function, event, queue, concurrency", [
    ("Worker", "WorkerSqsEventSource", "JobsQueue", {"MaximumConcurrency":
                                                     {"Ref": "WorkerMaxConcurrency"}}),
    ("DeadLetters", "DeadLettersSqsEventSource", "DeadLetterQueue", None),
])
def test_consumers_report_batch_item_failures(template, resources, function, event, queue,
                                              concurrency):
    source = resources[function]["Properties"]["Events"][event]
    assert source["Type"] == "SQS"
    properties = source["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert Resolver(template)(properties["BatchSize"]) == "10"
    assert properties.get("ScalingConfig", {}).get("MaximumConcurrency") == \
        (concurrency or {}).get("MaximumConcurrency")


def test_handlers_are_the_apps_own(resources):
    assert [resources[name]["Properties"]["Handler"] for name in FUNCTIONS] == \
        ["app.app", "app.process_jobs", "app.process_dead_letters", "app.sweep_stale_jobs"]


def test_the_sweeper_runs_every_five_minutes(template, resources):
    schedule = resources["Sweeper"]["Properties"]["Events"]["SweeperEvent"]
    assert schedule["Type"] == "Schedule"
    assert Resolver(template)(schedule["Properties"]["Schedule"]) == "rate(5 minutes)"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_every_setting_its_code_requires(resources, stage, function):
    present = settings_given(resources, function)
    assert NEEDS[function] <= present
    assert variables(resources, function)["STAGE"] == stage


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_holds_only_the_secrets_it_reads(resources, stage, function):
    held = {name for name in settings_given(resources, function) if name in SECRETS}
    # The compose file's Redis has no AUTH token to give.
    unused = {"REDIS_AUTH_TOKEN"} if stage == "localstack" else set()
    assert held == SECRETS_READ[function] - unused


def test_the_notifier_holds_only_the_secrets_it_reads(dev):
    container = dev["NotifierTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {secret["Name"] for secret in container["Secrets"]} == SECRETS_READ["notifier"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment["CORS_ORIGIN"] == {"Ref": "CorsOrigin"}


def test_redis_requires_the_auth_token_from_the_secret(dev):
    redis = dev["Redis"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["AuthToken"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${RedisAuthTokenSecretArn}}}"}
    for name in ("Worker", "DeadLetters"):
        assert variables(dev, name)["REDIS_URL"]["Fn::Sub"].startswith(
            "rediss://${Redis.PrimaryEndPoint.Address}")
        assert variables(dev, name)["REDIS_AUTH_TOKEN_ARN"] == {"Ref": "RedisAuthTokenSecretArn"}


# LocalStack's stage alone resolves secrets into its functions, from its
# development secret: it has no secrets extension to read an ARN through
# (see tests/test_template_production.py, which holds the AWS stages to ARNs).
LOCALSTACK_SECRET = r"\{\{resolve:secretsmanager:ai-content-generator/localstack:SecretString:\w+\}\}"
SECRET_REFERENCE = re.compile(LOCALSTACK_SECRET + r"|\$\{\w+:\?[^}]+\}")


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
    assert {name for name, _ in found} <= set(SECRETS)
    for name, value in found:
        local_database = name == "MONGODB_URI" and re.fullmatch(r"mongodb://[\w-]+:\d+", value)
        assert SECRET_REFERENCE.fullmatch(value) or local_database, (name, value)
    text = json.dumps(documents)
    assert not re.search(r"sk-or-[\w-]{8,}|AKIA[0-9A-Z]{16}|://[^/\s\"]*:[^/\s\"@]+@", text)


def test_only_the_localstack_stage_resolves_a_secret_into_a_function(resources, stage):
    resolved = {name: value for name, value in secret_values(resources)
                if "{{resolve:" in value}
    assert all(re.fullmatch(LOCALSTACK_SECRET, value) for value in resolved.values())
    assert set(resolved) == ({"JWT_SECRET", "OPENROUTER_API_KEY"}
                             if stage == "localstack" else set())


def statements(resources, function):
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def policy_actions(resources, function):
    return {action: statement["Resource"] for statement in statements(resources, function)
            for action in statement["Action"]}


SES_IDENTITY = {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
                           "identity/${MailIdentity}"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_iam_resources_are_the_stacks_own(resources, function):
    for statement in statements(resources, function):
        resource = statement["Resource"]
        if "Fn::GetAtt" in resource:
            assert resource["Fn::GetAtt"][0] in resources
        elif statement["Action"] == ["ses:SendEmail"]:
            assert resource == SES_IDENTITY
        else:
            assert resource == {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                           "${AWS::AccountId}:log-group:/aws/lambda/"
                                           "${AWS::StackName}-*"}


def test_the_api_may_only_send_to_the_job_queue(resources):
    actions = policy_actions(resources, "APIHandler")
    assert {a for a in actions if a.startswith("sqs:")} == {"sqs:GetQueueUrl", "sqs:SendMessage"}
    assert actions["sqs:SendMessage"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert not any(a.startswith(("ec2:", "s3:", "dynamodb:")) for a in actions)


def test_the_api_may_send_mail_only_as_the_mail_identity(resources):
    actions = policy_actions(resources, "APIHandler")
    assert {a for a in actions if a.startswith("ses:")} == {"ses:SendEmail"}
    assert actions["ses:SendEmail"] == SES_IDENTITY


def test_the_api_sends_mail_from_the_mail_from_parameter(resources):
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["MAIL_FROM"] == {"Ref": "MailFrom"}


def test_the_worker_may_only_consume_the_job_queue(resources):
    actions = policy_actions(resources, "Worker")
    assert {a for a in actions if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"}
    assert actions["sqs:ReceiveMessage"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}


def test_the_dead_letter_consumer_may_only_consume_the_dead_letter_queue(resources):
    actions = policy_actions(resources, "DeadLetters")
    # It postpones a record whose job is still held, on its own queue.
    assert {a for a in actions if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"}
    assert actions["sqs:ReceiveMessage"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_the_sweeper_may_only_send(resources):
    actions = policy_actions(resources, "Sweeper")
    assert {a for a in actions if a.startswith("sqs:")} == {"sqs:GetQueueUrl", "sqs:SendMessage"}
    assert actions["sqs:SendMessage"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}


def test_unknown_routes_and_gateway_errors_use_the_message_shape(dev):
    responses = {resource["Properties"]["ResponseType"]: resource["Properties"]
                 for resource in dev.values()
                 if resource["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"][
        "application/json"]) == {"message": contract.NOT_FOUND}
    assert json.loads(responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"]) == \
        {"message": contract.SERVER_ERROR}
    assert "message" in responses["DEFAULT_4XX"]["ResponseTemplates"]["application/json"]


def test_the_notifier_runs_behind_a_sticky_load_balancer(dev):
    group = dev["NotifierTargetGroup"]["Properties"]
    attributes = {item["Key"]: item["Value"] for item in group["TargetGroupAttributes"]}
    assert attributes == {"stickiness.enabled": "true", "stickiness.type": "lb_cookie"}
    assert group["HealthCheckPath"] == "/health"
    assert dev["NotifierService"]["Properties"]["LaunchType"] == "FARGATE"


def test_timeouts_and_memory_are_set_per_function(resources):
    assert [(resources[name]["Properties"]["Timeout"], resources[name]["Properties"]["MemorySize"])
            for name in FUNCTIONS] == [(15, 512), (60, 256), (30, 256), (60, 256)]


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
    assert notifier["CORS_ORIGIN"] == "${CORS_ORIGIN:?set CORS_ORIGIN}"
    assert (ROOT / "notifier" / "Dockerfile").is_file()


def test_the_api_stage_throttles_every_route_by_parameters(aws):
    template, resources = aws, aws["Resources"]
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
    assert json.loads(throttled["ResponseTemplates"]["application/json"]) == \
        {"message": contract.THROTTLED}
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_the_workers_concurrency_is_bounded_by_a_parameter(aws):
    source = aws["Resources"]["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}
    assert aws["Parameters"]["WorkerMaxConcurrency"]["Default"] == 5


LIMITS = {"MAX_ACTIVE_JOBS_PER_USER": "MaxActiveJobsPerUser",
          "MAX_JOBS_PER_DAY": "MaxJobsPerDay",
          "LOGIN_MAX_FAILURES": "LoginMaxFailures",
          "LOGIN_LOCKOUT_SECONDS": "LoginLockoutSeconds",
          "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "LoginAttemptsPerIpPerMinute",
          "REGISTRATIONS_PER_IP_PER_MINUTE": "RegistrationsPerIpPerMinute",
          "LOGIN_MAX_FAILURES_PER_EMAIL": "LoginMaxFailuresPerEmail",
          "MAX_JOBS_PER_ADDRESS_PER_DAY": "MaxJobsPerAddressPerDay",
          "MAX_SERVICE_JOBS_PER_DAY": "MaxServiceJobsPerDay",
          "MAX_SERVICE_COST_PER_DAY": "MaxServiceCostPerDay",
          "MAX_COST_PER_USER_PER_MONTH": "MaxCostPerUserPerMonth",
          "OPENROUTER_PRICE_PER_MILLION_TOKENS": "OpenRouterPricePerMillionTokens",
          "MAX_LIBRARY_ITEMS_PER_USER": "MaxLibraryItemsPerUser",
          "MAX_LIBRARY_CHARACTERS_PER_USER": "MaxLibraryCharactersPerUser",
          "MAX_PAGE_ITEMS": "MaxPageItems"}
# Whatever finishes a job keeps finished jobs within these.
RETENTION = {"MAX_FINISHED_JOBS_PER_USER": "MaxFinishedJobsPerUser",
             "FINISHED_JOB_RETENTION_DAYS": "FinishedJobRetentionDays"}


def test_the_limit_settings_reach_the_api_as_parameters_with_the_apps_defaults(aws):
    template, resources = aws, aws["Resources"]
    defaults = settings.from_env({"JWT_SECRET": "x" * 32, "MONGODB_URI": "mongodb://db"})
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    for variable, parameter in LIMITS.items():
        default = settings.NUMBERS[variable][0]
        assert variables[variable] == {"Ref": parameter}
        assert template["Parameters"][parameter]["Default"] == default
        assert getattr(defaults, variable.lower()) == default


def test_the_worker_prices_calls_as_the_api_reserves_them(aws):
    assert (variables(aws["Resources"], "Worker")["OPENROUTER_PRICE_PER_MILLION_TOKENS"]
            == variables(aws["Resources"], "APIHandler")["OPENROUTER_PRICE_PER_MILLION_TOKENS"]
            == {"Ref": "OpenRouterPricePerMillionTokens"})


def test_a_web_acl_limits_each_address_by_a_parameter(aws):
    acl = aws["Resources"]["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    [rule] = acl["Rules"]
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"] == {"RateBasedStatement": {
        "AggregateKeyType": "IP", "EvaluationWindowSec": 300,
        "Limit": {"Ref": "WafRequestsPerAddressPer5Minutes"}}}
    assert aws["Parameters"]["WafRequestsPerAddressPer5Minutes"]["Type"] == "Number"


def test_the_web_acl_guards_the_api_stage_and_the_notifiers_load_balancer(aws):
    guarded = {json.dumps(resource["Properties"]["ResourceArn"], sort_keys=True)
               for resource in aws["Resources"].values()
               if resource["Type"] == "AWS::WAFv2::WebACLAssociation"
               and resource["Properties"]["WebACLArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}}
    assert guarded == {
        json.dumps({"Ref": "NotifierLoadBalancer"}),
        json.dumps({"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/"
                               "${RestAPI}/stages/${RestAPI.Stage}"})}


def test_every_function_that_finishes_jobs_gets_the_retention_parameters(aws):
    for function in ("APIHandler", "Worker", "DeadLetters"):
        variables = aws["Resources"][function]["Properties"]["Environment"]["Variables"]
        for variable, parameter in RETENTION.items():
            default, low, high = settings.NUMBERS[variable]
            assert variables[variable] == {"Ref": parameter}
            assert aws["Parameters"][parameter] == {"Type": "Number", "Default": default,
                                                    "MinValue": low, "MaxValue": high}


NOTIFIER_LIMITS = {"NOTIFIER_MAX_SOCKETS_PER_USER": "NotifierMaxSocketsPerUser",
                   "NOTIFIER_MAX_SOCKETS_PER_ADDRESS": "NotifierMaxSocketsPerAddress",
                   "NOTIFIER_CONNECT_TIMEOUT_SECONDS": "NotifierConnectTimeoutSeconds",
                   "NOTIFIER_MAX_PACKET_BYTES": "NotifierMaxPacketBytes",
                   "CATCH_UPS_PER_USER_PER_MINUTE": "CatchUpsPerUserPerMinute"}


def notifier_environment(resources):
    container = resources["NotifierTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    return {item["Name"]: item["Value"] for item in container["Environment"]}


def test_the_notifiers_limits_reach_its_task_as_parameters_with_the_settings_bounds(aws):
    environment = notifier_environment(aws["Resources"])
    for variable, name in NOTIFIER_LIMITS.items():
        default, low, high = settings.NUMBERS[variable]
        assert environment[variable] == {"Ref": name}
        assert aws["Parameters"][name] == {"Type": "Number", "Default": default,
                                           "MinValue": low, "MaxValue": high}


def test_the_notifier_trusts_only_the_address_its_load_balancer_appends(aws):
    assert notifier_environment(aws["Resources"])["NOTIFIER_TRUSTED_PROXIES"] == "1"


def alarms(resources):
    return {name: resource["Properties"] for name, resource in resources.items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_alarm_notifies_the_topic_parameter(aws):
    template, resources = aws, aws["Resources"]
    assert template["Parameters"]["AlarmTopicArn"]["Type"] == "String"
    assert set(alarms(resources)) == {
        "DeadLetterQueueDepthAlarm", "JobsDeadLetteredAlarm", "WorkerErrorRateAlarm",
        "JobFailureRateAlarm", "JobsQueueOldestMessageAlarm", "Api5xxAlarm",
        "NotifierAtMaximumAlarm"}
    for alarm in alarms(resources).values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopicArn"}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_a_message_in_the_dead_letter_queue_alarms(dev):
    depth = alarms(dev)["DeadLetterQueueDepthAlarm"]
    assert (depth["Namespace"], depth["MetricName"]) == ("AWS/SQS",
                                                         "ApproximateNumberOfMessagesVisible")
    assert depth["Dimensions"] == [{"Name": "QueueName",
                                    "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}]
    arrivals = alarms(dev)["JobsDeadLetteredAlarm"]
    assert (arrivals["Namespace"], arrivals["MetricName"]) == ("AIContentGenerator",
                                                               "JobsDeadLettered")
    assert arrivals["Dimensions"] == [{"Name": "stage", "Value": {"Ref": "Stage"}}]
    for alarm in (depth, arrivals):
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_worker_error_rate_alarms_on_its_own_function(dev):
    alarm = alarms(dev)["WorkerErrorRateAlarm"]
    stats = {query["Id"]: query["MetricStat"]["Metric"] for query in alarm["Metrics"]
             if "MetricStat" in query}
    assert {name: (metric["Namespace"], metric["MetricName"], metric["Dimensions"])
            for name, metric in stats.items()} == {
        "errors": ("AWS/Lambda", "Errors", [{"Name": "FunctionName",
                                             "Value": {"Ref": "Worker"}}]),
        "invocations": ("AWS/Lambda", "Invocations", [{"Name": "FunctionName",
                                                       "Value": {"Ref": "Worker"}}])}
    assert alarm["Threshold"] == 5


def test_the_job_failure_rate_alarm_reads_the_services_own_metrics(dev):
    alarm = alarms(dev)["JobFailureRateAlarm"]
    names = {query["MetricStat"]["Metric"]["MetricName"] for query in alarm["Metrics"]
             if "MetricStat" in query}
    assert names == {"JobsCompleted", "JobsFailed", "JobsErrored"}


def test_a_job_message_older_than_the_delay_and_a_margin_alarms(aws):
    alarm = alarms(aws["Resources"])["JobsQueueOldestMessageAlarm"]
    assert (alarm["MetricName"], alarm["Threshold"]) == ("ApproximateAgeOfOldestMessage",
                                                         {"Ref": "JobQueueAgeAlarmSeconds"})
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    delay = int(parameter(aws, "GenerationDelaySeconds"))
    assert aws["Parameters"]["JobQueueAgeAlarmSeconds"]["Default"] > delay + 300


def test_api_5xx_responses_alarm_for_the_apps_gateway(dev):
    alarm = alarms(dev)["Api5xxAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": CHALICE["app_name"]},
        {"Name": "Stage", "Value": CHALICE["stages"]["dev"]["api_gateway_stage"]}]


def test_the_lambda_bundle_holds_the_docs_renderer(packaged):
    with zipfile.ZipFile(packaged["dev"].parent / "deployment.zip") as bundle:
        packaged = bundle.read("chalicelib/redoc.standalone.js")
    assert packaged == (ROOT / "web" / "vendor" / "redoc.standalone.js").read_bytes()


def test_the_lambda_bundle_holds_each_modules_bytecode_checked_against_its_source(packaged):
    with zipfile.ZipFile(packaged["dev"].parent / "deployment.zip") as bundle:
        names = set(bundle.namelist())
        bytecode = {name: bundle.read(importlib.util.cache_from_source(name))
                    for name in names if name.endswith(".py")
                    and importlib.util.cache_from_source(name) in names}
    assert {"app.py", "chalicelib/auth.py", "pymongo/__init__.py"} <= set(bytecode)
    assert sorted(name for name in names if name.endswith(".py") and name not in bytecode) == []
    # PEP 552's flags: hash-based, checked.
    assert {int.from_bytes(pyc[4:8], "little") for pyc in bytecode.values()} == {0b11}


def test_each_file_stands_once_in_the_lambda_bundle(packaged):
    with zipfile.ZipFile(packaged["dev"].parent / "deployment.zip") as bundle:
        names = bundle.namelist()
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def run_localstack_script(tmp_path, **env):
    """infra/deploy-localstack.sh with an `awslocal` that records its calls."""
    calls = tmp_path / "calls"
    stub = tmp_path / "bin" / "awslocal"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    stub.chmod(0o755)
    environment = {**os.environ, "PATH": f"{stub.parent}:{os.environ['PATH']}",
                   "PYTHON": sys.executable, **env}
    result = subprocess.run([str(ROOT / "infra" / "deploy-localstack.sh")], env=environment,
                            capture_output=True, text=True, timeout=120)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_the_localstack_script_deploys_the_packaged_localstack_stage(tmp_path):
    result, calls = run_localstack_script(tmp_path, CORS_ORIGIN=DEPLOYED_ORIGIN,
                                          JWT_SECRET="j" * 40, OPENROUTER_API_KEY="test-key")
    assert result.returncode == 0, result.stderr
    assert [call.split()[:2] for call in calls] == [
        ["secretsmanager", "describe-secret"], ["secretsmanager", "put-secret-value"],
        ["s3api", "head-bucket"], ["cloudformation", "package"], ["cloudformation", "deploy"],
        ["cloudformation", "describe-stacks"]]
    assert "--template-file infra/build/localstack/sam.yaml" in calls[3]
    assert f"--parameter-overrides CorsOrigin={DEPLOYED_ORIGIN}" in calls[4]
    assert json.loads(calls[1].split("--secret-string ", 1)[1]) == {
        "JWT_SECRET": "j" * 40, "OPENROUTER_API_KEY": "test-key"}


def test_the_localstack_script_needs_the_origin(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "CORS_ORIGIN"}
    result = subprocess.run([str(ROOT / "infra" / "deploy-localstack.sh")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "CORS_ORIGIN: set CORS_ORIGIN to the origin of the frontend" in result.stderr
