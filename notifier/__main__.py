"""`python -m notifier`: the notifier on its own port (NOTIFIER_PORT), as it
runs in its container."""
import logging
import sys

from aiohttp import web

from chalicelib import settings
from notifier.server import aiohttp_app, log


def main():
    try:
        config = settings.get()
        config.require("jwt_secret")
        config.require("mongodb_uri")
    except settings.SettingsError as error:
        print(f"notifier: {error}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(aiohttp_app(), host=config.host, port=config.notifier_port,
                access_log=None, shutdown_timeout=3, print=log.info)


if __name__ == "__main__":
    main()
