"""`python -m notifier`: the notifier on its own port (NOTIFIER_PORT), as it
runs in its container."""
import logging
import sys

import uvicorn

from chalicelib import settings
from notifier.server import asgi_app


def main():
    try:
        config = settings.get()
        config.require("jwt_secret")
    except settings.SettingsError as error:
        print(f"notifier: {error}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(asgi_app(), host=config.host, port=config.notifier_port,
                log_level=config.log_level.lower(), lifespan="off", access_log=False,
                timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
