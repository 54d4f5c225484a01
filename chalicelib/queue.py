"""The SQS job queue: one boto3 client per container."""
import functools
import json
import math

from chalicelib import settings

MAX_VISIBILITY_SECONDS = 43200


@functools.lru_cache(maxsize=2)
def client(read_timeout=10):
    """The SQS client. Few, quick retries by default: an unreachable queue must
    become a prompt 500 at POST time, not a request that hangs. A consumer
    that long-polls asks for a read timeout longer than its wait, since a
    receive that times out on our side still hides its messages for the
    whole visibility timeout."""
    # Imported here: boto3 costs a cold start ~150 ms, and only job
    # submission and the worker need it.
    import boto3
    from botocore.config import Config

    config = settings.get()
    return boto3.client("sqs", region_name=config.aws_region,
                        endpoint_url=config.sqs_endpoint_url,
                        config=Config(connect_timeout=2, read_timeout=read_timeout,
                                      retries={"max_attempts": 2, "mode": "standard"}))


@functools.lru_cache(maxsize=4)
def url(name: str) -> str:
    return client().get_queue_url(QueueName=name)["QueueUrl"]


def jobs_url() -> str:
    return url(settings.get().require("jobs_queue_name"))


def send_job(job_id: str, delay_seconds: int):
    client().send_message(QueueUrl=jobs_url(), MessageBody=json.dumps({"jobId": job_id}),
                          DelaySeconds=delay_seconds)


def postpone(receipt_handle: str, seconds: float):
    """Hide a received message for `seconds` more, so SQS delivers it again then."""
    timeout = min(MAX_VISIBILITY_SECONDS, max(1, math.ceil(seconds)))
    client().change_message_visibility(QueueUrl=jobs_url(), ReceiptHandle=receipt_handle,
                                       VisibilityTimeout=timeout)
