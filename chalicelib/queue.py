"""The SQS job queue: one boto3 client per container."""
import json
import math

from chalicelib import settings
from chalicelib.threadsafe import once

MAX_VISIBILITY_SECONDS = 43200


def client(read_timeout=10):
    """The SQS client. Few, quick retries by default: an unreachable queue must
    become a prompt 500 at POST time, not a request that hangs. A consumer
    that long-polls asks for a read timeout longer than its wait, since a
    receive that times out on our side still hides its messages for the
    whole visibility timeout."""
    config = settings.get()
    return _client(config.aws_region, config.sqs_endpoint_url, read_timeout)


@once
def _client(region, endpoint_url, read_timeout):
    # Imported here: boto3 costs a cold start ~150 ms, and only job
    # submission and the worker need it.
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", region_name=region, endpoint_url=endpoint_url,
                        config=Config(connect_timeout=2, read_timeout=read_timeout,
                                      retries={"max_attempts": 2, "mode": "standard"}))


def url(name: str) -> str:
    config = settings.get()
    return _url(config.aws_region, config.sqs_endpoint_url, name)


@once
def _url(region, endpoint_url, name):
    return client().get_queue_url(QueueName=name)["QueueUrl"]


def jobs_url() -> str:
    return url(settings.get().require("jobs_queue_name"))


def send_job(job_id: str, delay_seconds: float):
    delay = min(settings.MAX_DELAY_SECONDS, max(0, math.ceil(delay_seconds)))
    client().send_message(QueueUrl=jobs_url(), MessageBody=json.dumps({"jobId": job_id}),
                          DelaySeconds=delay)


def postpone(record: dict, seconds: float):
    """Hide a received record for `seconds` more, so SQS delivers it again
    then, on whichever queue it came from."""
    timeout = min(MAX_VISIBILITY_SECONDS, max(1, math.ceil(seconds)))
    queue_url = url(record["eventSourceARN"].rsplit(":", 1)[-1])
    client().change_message_visibility(QueueUrl=queue_url,
                                       ReceiptHandle=record["receiptHandle"],
                                       VisibilityTimeout=timeout)
