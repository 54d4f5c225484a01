"""The bare floor of bench.api_load: GET /content's work (the bearer token
checked, its user read, the user's items read newest first and encoded as
JSON) on the standard library's threaded HTTP server and pymongo alone, with
no framework, gateway or ASGI server, on the same database. The project's
distance to it is what Chalice, the gateway and uvicorn cost a request."""
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pymongo
from bson import ObjectId

from chalicelib import settings


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go in two writes: without this, Nagle holds the body back.
    disable_nagle_algorithm = True
    database = None

    def do_GET(self):
        token = self.headers.get("Authorization", "").partition(" ")[2]
        try:
            # Tokens carry the stage as audience, which the app compares itself.
            claims = jwt.decode(token, settings.get().require("jwt_secret"),
                                algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return self._send(401, {"message": "Not authorized"})
        user = self.database.users.find_one({"_id": ObjectId(claims["id"])}, {"password": 0})
        items = self.database.contents.find({"userId": user["_id"]}).sort(
            [("createdAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
        self._send(200, [{**item, "_id": str(item["_id"]), "userId": str(item["userId"]),
                          "createdAt": item["createdAt"].isoformat(),
                          "updatedAt": item["updatedAt"].isoformat()} for item in items])

    def _send(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def main():
    config = settings.get()
    Handler.database = pymongo.MongoClient(config.require("mongodb_uri"),
                                           tz_aware=True)[config.mongodb_db]
    ThreadingHTTPServer((config.host, config.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
