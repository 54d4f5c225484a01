"""LocalStack's SQS in host mode beside moto, for bench.worker: installed on
first use into a virtualenv of its own under the git-ignored data folder, run
on a free loopback port with SQS alone, stopped with its whole process group."""
import os
import signal
import subprocess
from pathlib import Path

import bench
from devstack import services

REQUIREMENTS = Path(__file__).resolve().parent / "localstack-requirements.txt"


def start(log_dir: Path) -> services.Service:
    home = install()
    port = services.free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update({
        "SERVICES": "sqs", "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        # Queue URLs on this address, not on a name only public DNS resolves.
        "LOCALSTACK_HOST": f"127.0.0.1:{port}", "SQS_ENDPOINT_STRATEGY": "path",
        # Nothing outside the machine: no analytics, no DNS server, no certificate download.
        "DISABLE_EVENTS": "1", "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1",
        # Its files under its own folder, not /var/lib/localstack: it takes
        # this machine for a container otherwise.
        "OVERRIDE_IN_DOCKER": "0", "FILESYSTEM_ROOT": str(home / "filesystem"),
        "HOME": str(home / "home"),
    })
    log_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([str(home / "bin" / "localstack"), "start", "--host"], env=env,
                               stdout=open(log_dir / "localstack.log", "ab"),
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, preexec_fn=services.die_with_parent)
    service = ProcessGroup("localstack", f"http://127.0.0.1:{port}", process, port)
    try:
        services.wait_until_listening(process, port, f"localstack ({log_dir / 'localstack.log'})",
                                      timeout=60)
    except BaseException:
        service.stop()
        raise
    return service


def install() -> Path:
    return bench.virtualenv("bench-localstack-venv", REQUIREMENTS, "LocalStack")


class ProcessGroup(services.Service):
    """A service whose children go with it (on Ctrl-C too: the bench stops
    its services in a `finally`)."""

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
