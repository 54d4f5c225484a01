"""Cold start: a fresh process that imports the app and serves its first
request (GET /auth/me: settings, MongoClient, indexes, token, user), against a
bare Chalice hello-world that imports pymongo and pings MongoDB; and the same
first request with its secrets read as in Lambda, through the Parameters and
Secrets Extension's local port (a stand-in serving them from memory)."""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import percentile
from bench.stage import JWT_SECRET, ROOT
from devstack import services
from devstack.aws.secrets_extension import SecretsExtension

RUNS = 12

# Runs in the fresh process: import, then one API-Gateway-shaped event.
FIRST_REQUEST = """
import sys
sys.path.insert(0, {path!r})
from app import app
event = {{"path": {route!r}, "httpMethod": "GET", "body": None, "isBase64Encoded": False,
         "headers": {{"authorization": "Bearer " + {token!r}}},
         "multiValueQueryStringParameters": None, "pathParameters": None,
         "stageVariables": None,
         "requestContext": {{"resourcePath": {route!r}, "httpMethod": "GET"}}}}
response = app(event, None)
assert response["statusCode"] == 200, response
print("served", flush=True)
"""


def lambda_python():
    """A virtualenv with only what the Lambda package holds (requirements.txt
    and chalice): the dev environment also has cryptography, which PyJWT
    imports when present (~60 ms) although HS256 never uses it."""
    venv = ROOT / ".data" / "bench-lambda-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print("creating the Lambda-like virtualenv for the benchmark ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r",
                        str(ROOT / "requirements.txt"), "chalice==1.34.0"], check=True)
    return str(python)


def spawn_seconds(python, code, env):
    """From spawning the process to its first response (its exit, which
    pymongo slows down by closing its monitors, is not counted)."""
    started = time.perf_counter()
    child = subprocess.Popen([python, "-c", code], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    served = child.stdout.readline() == "served\n"
    elapsed = time.perf_counter() - started
    child.wait()
    if not served:
        raise RuntimeError("the first request failed")
    return elapsed


def main():
    with tempfile.TemporaryDirectory() as scratch:
        mongo = services.start_mongo(":memory:", Path(scratch))
        secrets = {"arn:bench:jwt": JWT_SECRET,
                   "arn:bench:mongodb": mongo.url}
        extension = SecretsExtension("bench-session", lambda SecretId: {
            "ARN": SecretId, "SecretString": secrets[SecretId]})
        try:
            # As in Lambda: the function name makes the app log JSON lines.
            base = {**{name: value for name, value in os.environ.items()
                       if name not in ("JWT_SECRET", "MONGODB_URI")},
                    "STAGE": "bench", "CORS_ORIGIN": "http://localhost:3000",
                    "AWS_LAMBDA_FUNCTION_NAME": "bench"}
            env = {**base, "MONGODB_URI": mongo.url, "JWT_SECRET": secrets["arn:bench:jwt"]}
            from_extension = {**base, "JWT_SECRET_ARN": "arn:bench:jwt",
                              "MONGODB_URI_ARN": "arn:bench:mongodb",
                              "AWS_SESSION_TOKEN": "bench-session",
                              "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port)}
            token = _user_token(env)
            ours = FIRST_REQUEST.format(path=str(ROOT), route="/auth/me", token=token)
            hello = FIRST_REQUEST.format(path=str(ROOT / "bench" / "hello_app"), route="/",
                                         token="")
            for label, python in (("Lambda package", lambda_python()),
                                  ("dev virtualenv", sys.executable)):
                app_times, secret_times, hello_times = [], [], []
                for _ in range(RUNS):
                    app_times.append(spawn_seconds(python, ours, env))
                    secret_times.append(spawn_seconds(python, ours, from_extension))
                    hello_times.append(spawn_seconds(python, hello, env))
                report(label, app_times, secret_times, hello_times)
        finally:
            extension.stop()
            mongo.stop()


def report(label, app_times, secret_times, hello_times):
    hello_median = percentile(hello_times, 0.5)
    print(f"{label}: process start to first response, {RUNS} runs each")
    for name, times in (("app.py GET /auth/me ", app_times),
                        ("  + secrets read    ", secret_times)):
        median = percentile(times, 0.5)
        print(f"  {name}: median {median * 1000:.0f} ms, "
              f"p90 {percentile(times, 0.9) * 1000:.0f} ms, "
              f"ratio {median / hello_median:.2f}x (target <= 1.3x)")
    print(f"  hello + pymongo     : median {hello_median * 1000:.0f} ms, "
          f"p90 {percentile(hello_times, 0.9) * 1000:.0f} ms")


def _user_token(env):
    code = ("from chalicelib import auth\n"
            "print(auth.register({'name': 'Bench', 'email': 'cold@example.com',"
            " 'password': 'pw'}, '127.0.0.1')['token'])")
    done = subprocess.run([sys.executable, "-c", code], env={**env, "BCRYPT_ROUNDS": "4"},
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    main()
