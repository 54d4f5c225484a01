"""The harness's AWS account, on a server of its own that enforces IAM
(devstack/aws/iam_server.py). The setup CloudFormation and an operator do
(queues, secrets, the mail identity, the template's roles) runs as an
administrator; each role is created with exactly the policies the packaged
template gives it and assumed as its service assumes it; then enforcement
starts, and every call is allowed or refused by its caller's policies, as
in AWS."""
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import requests

from devstack.services import ROOT, Service, die_with_parent, free_port, wait_until_listening
from infra.topology import resources_of_type

EVERYTHING = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class Account:
    def __init__(self, log_dir, region):
        self.region = region
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._decisions = Path(log_dir) / "iam-decisions.jsonl"
        log = open(Path(log_dir) / "aws.log", "ab")
        # The notifier's execution role is given an AWS managed policy.
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.aws.iam_server", str(port), str(self._decisions)],
            cwd=ROOT, env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent)
        self.server = Service("aws", self.url, process, port)
        try:
            wait_until_listening(process, port, f"the AWS account ({log.name})")
            # Before enforcement any key will do: this one makes the administrator.
            iam = self._client("iam", dict(zip(VARIABLES, ("setup", "setup", None))))
            iam.create_user(UserName="administrator")
            iam.put_user_policy(UserName="administrator", PolicyName="Everything",
                                PolicyDocument=json.dumps(EVERYTHING))
            key = iam.create_access_key(UserName="administrator")["AccessKey"]
            self.administrator = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                  "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
            self.id = self.client("sts").get_caller_identity()["Account"]
        except Exception:
            self.stop()
            raise

    def client(self, service, credentials=None, **options):
        """A client of `service` with `credentials` ({AWS_ACCESS_KEY_ID: ...},
        a role's), the administrator's if none."""
        return self._client(service, credentials or self.administrator, **options)

    def _client(self, service, credentials, **options):
        return boto3.client(service, endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=credentials.get("AWS_SESSION_TOKEN"), **options)

    def create_roles(self, template, resolve, stack) -> dict:
        """Each AWS::IAM::Role of `template`, with its own policies, its
        managed ones and every AWS::IAM::Policy that names it (and whose
        condition holds), resolved: {logical id: {"Arn": ARN}}."""
        iam = self.client("iam")
        roles = {}
        for logical_id, resource in resources_of_type(template, "AWS::IAM::Role").items():
            properties = resource["Properties"]
            name = f"{stack}-{logical_id}"
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
                resolve(properties["AssumeRolePolicyDocument"])))["Role"]["Arn"]
            for policy_name, document in _policies(template, logical_id, resolve):
                iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                                    PolicyDocument=json.dumps(document))
            for managed in resolve(properties.get("ManagedPolicyArns", [])):
                iam.attach_role_policy(RoleName=name, PolicyArn=managed)
            roles[logical_id] = {"Arn": arn}
        return roles

    def assume(self, role_arn, session) -> dict:
        """The role's temporary credentials, as Lambda or ECS gets them
        (its trust policy names the service; moto cannot sign as one, so
        roles are assumed before enforcement starts)."""
        credentials = self.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"]}

    def enforce(self):
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

    def decisions(self) -> list:
        """Every call checked so far: {"principal", "action", "resource", "allowed"}."""
        if not self._decisions.exists():
            return []
        return [json.loads(line) for line in self._decisions.read_text().splitlines() if line]

    def sent_mail(self) -> list:
        """What SES sent: {"source", "destinations", "subject", "body"} each."""
        models = requests.get(f"{self.url}/moto-api/data.json", timeout=10).json()
        return models["ses"]["Message"]

    def stop(self):
        self.server.stop()


def _policies(template, role, resolve):
    """(name, document) of each inline policy `role` has in the template."""
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        yield policy["PolicyName"], resolve(policy["PolicyDocument"])
    for resource in resources_of_type(template, "AWS::IAM::Policy").values():
        properties = resource["Properties"]
        if resolve.condition(resource.get("Condition")) and {"Ref": role} in resolve.choose(
                properties["Roles"]):
            yield properties["PolicyName"], resolve(properties["PolicyDocument"])
