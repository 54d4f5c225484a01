"""`make run`: the whole system on one port, on embedded services unless the
environment names real ones."""
import os
import secrets
import signal
import sys

from chalicelib import logs
from devstack import services
from devstack.stack import Stack


def main():
    logs.configure(json_lines=False)
    data = services.data_dir()
    env = {"STAGE": "local", **os.environ}
    if not env.get("JWT_SECRET"):
        env["JWT_SECRET"] = _local_jwt_secret(data)
    # Reset links open the client this stack serves; mail comes from nobody real.
    env.setdefault("CLIENT_URL", f"http://localhost:{env.get('PORT') or 5000}")
    env.setdefault("MAIL_FROM", "AI Content Generator <no-reply@localhost>")
    # uvicorn re-raises SIGTERM once it has shut down; turning it into an
    # exit lets the finally below stop every service this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stack = Stack(data, env)
    try:
        stack.serve()
    except KeyboardInterrupt:
        pass
    except Exception as error:
        print(f"make run: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        stack.stop()


def _local_jwt_secret(data):
    """The local stage's secret, generated once and kept with its data."""
    path = data / "jwt-secret"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


if __name__ == "__main__":
    main()
