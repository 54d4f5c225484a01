"""The floors of bench.api_load: bare Chalice routes served through the same
gateway, Socket.IO wrapper and uvicorn options as `make run`, so that the
ratio to them is what the project itself adds to a request.

- `/content`: GET /content's query (the bearer token's user and its items),
  without the app's middleware, CORS or error translation;
- `/unrevocable`: GET /content's queries as before tokens were revocable:
  the token's signature and expiry, then its user, compared with nothing,
  then its items;
- `/items?user=`: the items query alone, no token and no user lookup;
- `POST /bcrypt`: POST /auth/login's body read and its password checked
  against a hash at the configured rounds, and nothing else: no limits, no
  user lookup, no token."""
import bcrypt
import jwt
import uvicorn

from chalicelib import content, contract, db, pages, settings
from chalicelib.edge import ThreadSafeChalice
from chalicelib.threadsafe import once
from devstack.aws.api_gateway.in_process import ChaliceGateway
from notifier.server import asgi_app

app = ThreadSafeChalice(app_name="floor")


@app.route("/content")
def list_content():
    return content.listing(app.current_request, {})[0]


@app.route("/unrevocable")
def list_content_unrevocable():
    token = app.current_request.headers["authorization"].partition(" ")[2]
    claims = jwt.decode(token, settings.get().jwt_secret, algorithms=["HS256"],
                        options={"verify_aud": False})
    user = db.get().users.find_one({"_id": db.object_id(claims["id"])}, {"password": 0})
    return pages.whole(db.get().contents.find({"userId": user["_id"]}), contract.CONTENT)


@app.route("/items")
def list_items():
    user_id = db.object_id(app.current_request.query_params["user"])
    return pages.whole(db.get().contents.find({"userId": user_id}), contract.CONTENT)


@app.route("/bcrypt", methods=["POST"])
def check_password():
    password = app.current_request.json_body["password"].encode()
    return {"matches": bcrypt.checkpw(password, _stored(password))}


@once
def _stored(password):
    return bcrypt.hashpw(password, bcrypt.gensalt(settings.get().bcrypt_rounds))


def main():
    config = settings.get()
    uvicorn.run(asgi_app(ChaliceGateway(app)), host=config.host, port=config.port,
                log_level="warning", access_log=False, proxy_headers=False)


if __name__ == "__main__":
    main()
