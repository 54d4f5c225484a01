"""What AWS's SQS event source mappings and schedule do for the worker
Lambdas, locally: long-poll the queues, hand Lambda-shaped batches to the very
handlers that run in Lambda, delete only the records they did not report as
failed, and invoke the sweeper on its interval."""
import logging
import threading

from chalice.local import LambdaContext

from chalicelib import queue

log = logging.getLogger("devstack.poller")

WORKER_TIMEOUT_SECONDS = 60
WAIT_SECONDS = 2
RECEIVE_TIMEOUT_SECONDS = 60


class Poller:
    def __init__(self, consumers, sweeper=None, sweep_interval=300, sqs=None):
        """`consumers`: (queue URL, handler(event, context), topology.Consumer),
        polled by as many threads as its maximum concurrency; `sweeper`: a
        scheduled handler(event, context) run every `sweep_interval` s;
        `sqs(consumer)`: the SQS client a consumer polls with (in AWS, its
        function's role), chalicelib's own if not given."""
        self._stop = threading.Event()
        self._sqs = sqs or (lambda source: queue.client(read_timeout=RECEIVE_TIMEOUT_SECONDS))
        self._threads = [threading.Thread(target=self._loop, args=(url, handler, source),
                                          daemon=True)
                         for url, handler, source in consumers
                         for _ in range(source.max_concurrency)]
        if sweeper:
            self._threads.append(threading.Thread(target=self._sweep, daemon=True,
                                                  args=(sweeper, sweep_interval)))

    @classmethod
    def for_app(cls, topology):
        """The event sources and schedule of the topology, feeding app.py's handlers."""
        import app
        handlers = {"Worker": app.process_jobs, "DeadLetters": app.process_dead_letters}
        return cls([(topology.queue_url(source.queue), handlers[function], source)
                    for function, source in topology.consumers().items()],
                   sweeper=app.sweep_stale_jobs,
                   sweep_interval=topology.schedules()["Sweeper"])

    def start(self):
        for thread in self._threads:
            thread.start()

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WAIT_SECONDS + WORKER_TIMEOUT_SECONDS)

    def _loop(self, url, handler, source):
        sqs, arn = self._sqs(source), None
        while not self._stop.is_set():
            try:
                # As a mapping reads its queue's attributes when it is created.
                arn = arn or sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                self.poll_once(url, handler, source, sqs, arn)
            except Exception:
                log.exception("polling %s failed; retrying", url)
                self._stop.wait(1)

    def _sweep(self, handler, interval):
        # At start too: jobs stranded while nothing ran are picked up at once.
        while True:
            try:
                handler(_scheduled_event(), LambdaContext("sweeper", 256, 60_000))
            except Exception:
                log.exception("sweeping stale jobs failed; trying again later")
            if self._stop.wait(interval):
                return

    def poll_once(self, url, handler, source, sqs, arn):
        # SQS gives at most ten messages a receive; larger batches need a
        # batching window, which the topology does not use.
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, source.batch_size),
            WaitTimeSeconds=WAIT_SECONDS,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return
        records = [_record(message, url, arn) for message in messages]
        context = LambdaContext("worker", 256, max_runtime_ms=WORKER_TIMEOUT_SECONDS * 1000)
        try:
            result = handler({"Records": records}, context)
        except Exception:
            # As in Lambda: a failed invocation deletes nothing; the messages
            # come back after their visibility timeout.
            log.exception("worker invocation failed; %d messages will return", len(records))
            return
        if not source.report_failures:
            result = None
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages) if message["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=done)


def _record(message, url, arn=None):
    region = queue.client().meta.region_name
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn or "arn:aws:sqs:{}:000000000000:{}".format(
            region, url.rsplit("/", 1)[-1]),
        "awsRegion": region,
    }


def _scheduled_event():
    return {"version": "0", "id": "local", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000", "time": "",
            "region": queue.client().meta.region_name, "resources": [], "detail": {}}
