"""Deliver SQS messages to a handler as one Lambda batch, in process."""
from chalice.local import LambdaContext

import app
from chalicelib import db, queue
from devstack.aws.poller import _record


def find(job_id):
    return db.get().jobs.find_one({"jobId": job_id})


def deliver(url, *bodies, handler=app.process_jobs):
    """Send the bodies, receive them as one batch and invoke `handler` on it."""
    sqs = queue.client()
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    messages = []
    while len(messages) < len(bodies):
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        # Messages an earlier test returned to the queue are not this batch's.
        messages += [message for message in received if message["Body"] in bodies]
    event = {"Records": [_record(message, url) for message in messages]}
    message_ids = {message["Body"]: message["MessageId"] for message in messages}
    return handler(event, LambdaContext("worker", 256, 60_000)), message_ids
