"""What generation options cost POST /generate-content: one local stack,
requests alternating between a plain body and one with every option (a
brand voice, read from MongoDB, included), one client. The plain request is
the contract's; the options add their validation, the voice's read and a
larger job document. A third body asks for three variants, which takes
three limit slots in the same conditional update."""
import tempfile
from pathlib import Path

import requests

from bench import percentile, summary
from bench.limits import ENV, _alternating, _register, _timed
from devstack.services import StackProcess

REQUESTS = 300
PLAIN = {"prompt": "Benchmark prompt", "contentType": "Product Description"}
OPTIONS = {"tone": "friendly", "length": "medium", "language": "French",
           "audience": "small-team founders", "keywords": ["steel", "cold", "recycled"],
           "productName": "Aqua 2", "features": ["keeps cold 24 h", "recycled steel"]}


def main():
    with tempfile.TemporaryDirectory() as scratch:
        env = {**ENV, "DATA_DIR": scratch, "MAX_ACTIVE_JOBS_PER_USER": "1000",
               "MAX_JOBS_PER_DAY": "100000", "MAX_JOBS_PER_ADDRESS_PER_DAY": "10000000"}
        stack = StackProcess(env, Path(scratch) / "stack.log").start()
        try:
            report(measure(stack.url))
        finally:
            stack.stop()
    print("(load generator and server share the machine's 2 cores)")


def measure(url):
    session = requests.Session()
    bodies = _bodies(session, url)
    times = {name: [] for name in bodies}
    for index in range(REQUESTS):
        for name in _alternating(bodies, index):
            user = bodies[name]["user"]
            times[name].append(_timed(session, 202, f"{url}/generate-content",
                                      bodies[name]["body"],
                                      {"Authorization": f"Bearer {user['token']}"}))
    return times


def _bodies(session, url):
    """A user of its own for each body, so no quota document is shared."""
    users = [_register(session, url, n) for n in range(3)]
    voice = session.post(f"{url}/voices", headers={"Authorization": f"Bearer {users[1]['token']}"},
                         json={"name": "Calm", "description": "Short sentences.",
                               "samples": ["Breathe in. Breathe out."]}, timeout=30).json()
    return {"plain": {"user": users[0], "body": PLAIN},
            "options": {"user": users[1], "body": {**PLAIN, "options": {
                **OPTIONS, "voiceId": voice["_id"]}}},
            "3 variants": {"user": users[2], "body": {**PLAIN, "options": {"variants": 3}}}}


def report(times):
    print(f"{'POST /generate-content':<24}  latency")
    for name, values in times.items():
        print(f"{name:<24}  {summary(values)}")
    plain = percentile(times["plain"], 0.5)
    for name in ("options", "3 variants"):
        mine = percentile(times[name], 0.5)
        print(f"{'':<24}  p50 {name}/plain {mine / plain:.2f}x "
              f"(+{(mine - plain) * 1000:.1f} ms)", flush=True)


if __name__ == "__main__":
    main()
