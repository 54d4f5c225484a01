"""The floors of bench.api_load: bare Chalice routes served through the same
gateway, Socket.IO wrapper and uvicorn options as `make run`, so that the
ratio to them is what the project itself adds to a request.

- `/content`: GET /content's queries (the bearer token's user, then that
  user's items), without the app's middleware, CORS or error translation;
- `/items?user=`: the items query alone, no token and no user lookup."""
import uvicorn

from chalicelib import auth, content, db, settings
from chalicelib.threadsafe import ThreadSafeChalice
from devstack.gateway import ChaliceGateway
from notifier.server import asgi_app

app = ThreadSafeChalice(app_name="floor")


@app.route("/content")
def list_content():
    token = app.current_request.headers["authorization"].partition(" ")[2]
    return content.list_for(auth.user_for_token(token))


@app.route("/items")
def list_items():
    return content.list_for({"_id": db.object_id(app.current_request.query_params["user"])})


def main():
    config = settings.get()
    uvicorn.run(asgi_app(ChaliceGateway(app)), host=config.host, port=config.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
