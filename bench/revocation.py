"""What revocable tokens cost GET /content (20 items), 8 clients, through the
local server: the p50 with the revocation check (a user with no ended
sessions, and one with 99, the most a user carries before a logout ends
them all) beside bench.floor's route that checks a token as before tokens
were revocable, and the database commands of one request (goal: no more
than before: the user and its items in one indexed read)."""
import secrets
import tempfile
from pathlib import Path
from types import SimpleNamespace

from pymongo import monitoring

from bench import CommandCounter
from bench.api_load import LOAD_CLIENTS, _user, run_cell
from devstack import services
from devstack.services import StackProcess

ENDED_SESSIONS = 99


def main():
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        backing = [services.start_mongo(":memory:", folder), services.start_redis(folder)]
        mongo, redis = backing
        env = {"DATA_DIR": scratch, "STAGE": "local", "LOG_LEVEL": "WARNING",
               "MONGODB_URI": mongo.url, "REDIS_URL": redis.url, "SQS_ENDPOINT_URL": "",
               "JWT_SECRET": secrets.token_urlsafe(48),
               "BCRYPT_ROUNDS": "4", "REGISTRATIONS_PER_IP_PER_MINUTE": "1000000",
               "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "1000000"}
        stacks = []
        try:
            stack = StackProcess(env, folder / "stack.log").start()
            stacks.append(stack)
            floor = StackProcess(env, folder / "floor.log", module="bench.floor").start()
            stacks.append(floor)
            fresh, ended = _user(stack.url, 20), _user(stack.url, 20)
            _end_sessions(stack.url, ended)
            compare(stack, floor, fresh, ended)
            print(f"database commands of one GET /content: {_commands(env, ended)}")
        finally:
            for running in stacks:
                running.stop()
            for service in backing:
                service.stop()


def compare(stack, floor, fresh, ended):
    """Alternating, so that each sees the same neighbours on the cores."""
    rows = {"with revocation, no ended sessions": [],
            f"with revocation, {ENDED_SESSIONS} ended sessions": [],
            "without revocation (bench.floor)": []}
    for _ in range(2):
        rows["with revocation, no ended sessions"].append(
            run_cell(stack, "GET", "/content", fresh["token"], LOAD_CLIENTS))
        rows[f"with revocation, {ENDED_SESSIONS} ended sessions"].append(
            run_cell(stack, "GET", "/content", ended["token"], LOAD_CLIENTS))
        rows["without revocation (bench.floor)"].append(
            run_cell(floor, "GET", "/unrevocable", fresh["token"], LOAD_CLIENTS))
    print(f"GET /content (20), {LOAD_CLIENTS} clients:")
    for label, cells in rows.items():
        p50 = min(cell.p50 for cell in cells)
        print(f"  {label:<40} p50 {p50:6.1f} ms")


def _end_sessions(url, user):
    import requests
    for _ in range(ENDED_SESSIONS):
        token = requests.post(f"{url}/auth/login", json={"email": user["email"],
                                                         "password": "pw"}).json()["token"]
        requests.post(f"{url}/auth/logout", headers={"Authorization": f"Bearer {token}"})


def _commands(env, user):
    from chalicelib import content, settings

    settings.use(settings.from_env(env))
    counter = CommandCounter()
    monitoring.register(counter)
    request = SimpleNamespace(headers={"authorization": f"Bearer {user['token']}"})
    content.listing(request, {})
    counter.names.clear()
    content.listing(request, {})
    return f"{len(counter.names)} ({', '.join(counter.names)})"


if __name__ == "__main__":
    main()
