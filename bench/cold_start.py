"""Cold start: a fresh process that imports the app and serves its first
request (GET /auth/me: settings, MongoClient, indexes, token, user), against a
bare Chalice hello-world that imports pymongo and pings MongoDB; and the same
first request with its secrets read as in Lambda, through the Parameters and
Secrets Extension's local port (a stand-in serving them from memory).

As the Lambda package holds them, both apps' modules are compiled beforehand
(infra/package.py's bytecode), and their packages come from a virtualenv
with the package's requirements alone; the same app compiled at start shows
what the bytecode saves. The dev virtualenv runs the working tree as it is."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import percentile
from bench.stage import JWT_SECRET, ROOT
from devstack import services
from devstack.aws.secrets_extension import SecretsExtension
from infra.package import compile_folder

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
            bundle, hello_bundle = Path(scratch) / "bundle", Path(scratch) / "hello"
            _bundle(bundle, ROOT / "app.py", ROOT / "chalicelib")
            _bundle(hello_bundle, ROOT / "bench" / "hello_app" / "app.py")

            def first_request(path, route="/auth/me"):
                return FIRST_REQUEST.format(path=str(path), route=route, token=token)

            source = first_request(ROOT)
            print(f"load average {os.getloadavg()[0]:.1f} at the start")
            for label, python, ours, hello in (
                    ("Lambda package", lambda_python(), first_request(bundle),
                     first_request(hello_bundle, "/")),
                    ("dev virtualenv", sys.executable, source,
                     first_request(ROOT / "bench" / "hello_app", "/"))):
                times = {"app": [], "secrets": [], "hello": [], "source": []}
                for _ in range(RUNS):
                    times["app"].append(spawn_seconds(python, ours, env))
                    times["secrets"].append(spawn_seconds(python, ours, from_extension))
                    times["hello"].append(spawn_seconds(python, hello, env))
                    if ours != source:
                        times["source"].append(spawn_seconds(python, source, from_extension))
                report(label, times)
        finally:
            extension.stop()
            mongo.stop()


def _bundle(folder, *paths):
    """`paths` copied into `folder` and compiled as the Lambda package's are."""
    folder.mkdir()
    for path in paths:
        if path.is_dir():
            shutil.copytree(path, folder / path.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, folder)
    compile_folder(folder)


def report(label, times):
    hello_median = percentile(times["hello"], 0.5)
    print(f"{label}: process start to first response, {RUNS} runs each, interleaved")
    for name, key in (("app.py GET /auth/me      ", "app"),
                      ("  + secrets read         ", "secrets"),
                      ("  + secrets, no bytecode ", "source")):
        if times[key]:
            median = percentile(times[key], 0.5)
            print(f"  {name}: median {median * 1000:.0f} ms, "
                  f"p90 {percentile(times[key], 0.9) * 1000:.0f} ms, "
                  f"ratio {median / hello_median:.2f}x (target <= 1.3x)")
    print(f"  hello + pymongo          : median {hello_median * 1000:.0f} ms, "
          f"p90 {percentile(times['hello'], 0.9) * 1000:.0f} ms")


def _user_token(env):
    code = ("from chalicelib import auth\n"
            "print(auth.register({'name': 'Bench', 'email': 'cold@example.com',"
            " 'password': 'pw'}, '127.0.0.1')['token'])")
    done = subprocess.run([sys.executable, "-c", code], env={**env, "BCRYPT_ROUNDS": "4"},
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    main()
