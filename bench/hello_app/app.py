"""The baseline for the cold-start benchmark: a bare Chalice app that
imports pymongo and answers with a MongoDB ping."""
import os

import pymongo
from chalice import Chalice

app = Chalice(app_name="hello")
_client = None


@app.route("/")
def index():
    global _client
    if _client is None:
        _client = pymongo.MongoClient(os.environ["MONGODB_URI"])
    _client.admin.command("ping")
    return {"hello": "world"}
