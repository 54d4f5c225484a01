"""Starts what the environment does not name, wires it together and serves."""
import logging
import os
import shlex

import uvicorn

from chalicelib import settings
from devstack import services
from devstack.mailbox import Mailbox

log = logging.getLogger("devstack")


class Stack:
    def __init__(self, data_dir, env):
        """`env`: the environment the settings are read from."""
        self.data_dir = data_dir
        self.env = env
        self.started = []
        self.poller = None
        self.mail_folder = data_dir / "mail"

    def serve(self):
        topology = local_topology(self.env)
        config = settings.use(settings.from_env({
            **self.env, **self._start_missing_services(),
            **topology.environment("APIHandler", ["JOBS_QUEUE_NAME"])}))
        ensure_queues(topology)
        if any(service.name == "sqs" for service in self.started):
            resend_unfinished()
        mailbox = any(service.name == Mailbox.name for service in self.started)
        asgi = build_asgi(self.mail_folder if mailbox else None)
        from devstack.aws.poller import Poller
        self.poller = Poller.for_app(topology)
        self.poller.start()
        if config.offline_ai:
            log.warning("OPENROUTER_API_KEY is not set: jobs are answered by the OFFLINE "
                        "provider, whose output says it was produced offline")
        print(f"API and Socket.IO on http://localhost:{config.port}", flush=True)
        uvicorn.run(asgi, host=config.host, port=config.port,
                    log_level=config.log_level.lower(), access_log=False,
                    # The peer is the client: a forwarded header is the client's to forge.
                    proxy_headers=False,
                    timeout_graceful_shutdown=3)

    def stop(self):
        if self.poller:
            self.poller.stop()
        for service in reversed(self.started):
            service.stop()
        if self.started:
            print("stopped " + ", ".join(s.name for s in self.started), flush=True)

    def _start_missing_services(self) -> dict:
        """The settings of the embedded services started for what `env` does not name."""
        logs = self.data_dir / "logs"
        wanted = [
            ("MONGODB_URI", lambda: services.start_mongo(str(self.data_dir / "mongodb"), logs)),
            ("REDIS_URL", lambda: services.start_redis(logs)),
            ("SQS_ENDPOINT_URL", lambda: services.start_sqs(logs)),
            ("SMTP_URL", lambda: Mailbox(self.mail_folder).start()),
        ]
        started = {}
        for variable, start in wanted:
            if self.env.get(variable) or (variable == "SQS_ENDPOINT_URL"
                                          and self.env.get("AWS_ENDPOINT_URL_SQS")):
                print(f"using {variable} from the environment", flush=True)
                continue
            service = start()
            self.started.append(service)
            started[variable] = service.url
            print(f"started {service.name} at {service.url}", flush=True)
        # moto accepts any credentials; real endpoints bring their own, which
        # boto3 reads from the environment itself.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        return started


def resend_unfinished():
    """An embedded queue starts empty, so every job still queued or
    processing gets its message again, due when the job is: none waits for
    the sweeper, and the claim makes a duplicate harmless."""
    from chalicelib import clock, lifecycle, queue
    moment = clock.now()
    count = 0
    for job in lifecycle.unfinished():
        queue.send_job(job["jobId"], (job["scheduledFor"] - moment).total_seconds())
        count += 1
    if count:
        print(f"re-sent the messages of {count} unfinished jobs", flush=True)


def local_topology(env):
    """infra/topology.yml with STACK_PARAMETERS' overrides. The functions
    receive the job queue's name from it, as the template gives it in AWS."""
    from infra import topology
    return topology.local({"CorsOrigin": settings.cors_origin(env),
                           **stack_parameters(env)})


def stack_parameters(env) -> dict:
    """STACK_PARAMETERS: overrides of infra/topology.yml's parameters for
    local runs, written as CloudFormation takes them (`Key=Value Key=Value`)."""
    try:
        pairs = shlex.split(env.get("STACK_PARAMETERS") or "")
    except ValueError:
        pairs = ["unbalanced quotes"]
    if not all("=" in pair for pair in pairs):
        raise settings.SettingsError(
            "STACK_PARAMETERS must be Key=Value pairs separated by spaces")
    return dict(pair.split("=", 1) for pair in pairs)


def ensure_queues(topology):
    """The job queue and its dead-letter queue, as CloudFormation creates them in AWS."""
    from chalicelib import queue
    topology.ensure_queues(queue.client())


def build_asgi(mail_folder=None):
    """REST and Socket.IO on one port: /socket.io/ to the notifier, the rest to
    the API; with `mail_folder`, the local mailbox's page too."""
    from pathlib import Path

    from app import app
    from devstack import mailbox
    from devstack.aws.api_gateway.in_process import ChaliceGateway
    from notifier.server import asgi_app
    web = Path(__file__).resolve().parent.parent / "web"
    gateway = ChaliceGateway(app, static_dir=web if web.is_dir() else None)
    return asgi_app(mailbox.asgi(mail_folder, gateway) if mail_folder else gateway)
