"""The deployed-shape harness's AWS account: moto's server, which checks each
call against the caller's IAM policies once enforcement is switched on
(POST /moto-api/reset-auth with 0), and records every decision.

Run as `python -m devstack.aws.iam_server PORT DECISIONS`: each check is
appended to DECISIONS as a JSON line {"principal", "action", "resource",
"allowed"}, so the harness can tell which calls a role made and which it
was refused.

moto evaluates identity policies of users and assumed roles, but names the
resource a call acts on only for SQS calls given a QueueUrl; for any other
it checks the policies against "*", which no statement scoped to an ARN
allows; and it asks for an action of each SQS batch call, where AWS
authorises a batch by its single call's action. Here the calls the
deployment makes are checked as AWS checks them: GetQueueUrl names its
queue, Secrets Manager calls their secret, SES sends the identity of their
sender, CloudWatch Logs calls their log group or stream, and
DeleteMessageBatch is sqs:DeleteMessage (and so on)."""
import json
import sys
import threading
from email.utils import parseaddr

from moto.core.exceptions import AccessDeniedError
from moto.iam.access_control import IAMRequestBase
from moto.logs.responses import LogsResponse
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.server import main
from moto.sesv2.responses import SESV2Response
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.responses import SQSResponse

BATCHES = {f"sqs:{action}Batch": f"sqs:{action}"
           for action in ("SendMessage", "DeleteMessage", "ChangeMessageVisibility")}


def _arn(response, service, resource):
    return f"arn:aws:{service}:{response.region}:{response.current_account}:{resource}"


_queue_resource = SQSResponse._determine_resource


def _sqs_resource(self):
    if self._get_action() != "GetQueueUrl":
        return _queue_resource(self)
    try:
        return self.sqs_backend.get_queue(self._get_param("QueueName")).queue_arn
    except QueueDoesNotExist:
        return "*"


def _secret_resource(self):
    secret = self.backend.secrets.get(self._get_param("SecretId") or "")
    return secret.arn if secret else "*"


def _sender_resource(self):
    """SES authorises a send against the verified identity it sends as: the
    address itself if it is one, else its domain."""
    if self._get_action() != "SendEmail":
        return "*"
    _, address = parseaddr(json.loads(self.body).get("FromEmailAddress", ""))
    verified = self.sesv2_backend.core_backend.email_identities
    identity = address if address in verified else address.rpartition("@")[2]
    return _arn(self, "ses", f"identity/{identity}")


def _log_resource(self):
    group, stream = self._get_param("logGroupName"), self._get_param("logStreamName")
    if not group:
        return "*"
    resource = f"log-group:{group}" + (f":log-stream:{stream}" if stream else "")
    return _arn(self, "logs", resource)


class Decisions:
    def __init__(self, path):
        self._file = open(path, "a", buffering=1)
        self._lock = threading.Lock()
        self._check = IAMRequestBase.check_action_permitted

    def install(self):
        decisions = self

        def check_action_permitted(request, resource):
            request._action = BATCHES.get(request._action, request._action)
            try:
                decisions._check(request, resource)
            except AccessDeniedError:
                decisions.write(request, resource, allowed=False)
                raise
            decisions.write(request, resource, allowed=True)

        IAMRequestBase.check_action_permitted = check_action_permitted

    def write(self, request, resource, allowed):
        line = json.dumps({"principal": request._access_key.arn, "action": request._action,
                           "resource": resource, "allowed": allowed})
        with self._lock:
            self._file.write(line + "\n")


if __name__ == "__main__":
    port, decisions = sys.argv[1:3]
    SQSResponse._determine_resource = _sqs_resource
    SecretsManagerResponse._determine_resource = _secret_resource
    SESV2Response._determine_resource = _sender_resource
    LogsResponse._determine_resource = _log_resource
    Decisions(decisions).install()
    main(["-H", "127.0.0.1", "-p", port])
