"""The AWS Parameters and Secrets Lambda Extension's local interface, for the
harness and the benchmarks: `GET /secretsmanager/get?secretId=ID` with the
`X-Aws-Parameters-Secrets-Token` header (the function's session token),
answered with GetSecretValue's JSON. `get_secret_value` is what the
extension calls: in the harness, a Secrets Manager client holding the
function's own credentials, so its role decides, as in Lambda."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import ClientError

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"


class SecretsExtension:
    def __init__(self, token, get_secret_value):
        self.token, self.get_secret_value = token, get_secret_value
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def answer(self, target, token):
        """(status, JSON body)."""
        url = urlsplit(target)
        secret_id = parse_qs(url.query).get("secretId", [None])[0]
        if token != self.token:
            return 401, {"message": "Unauthorized"}
        if url.path != "/secretsmanager/get" or not secret_id:
            return 400, {"message": "secretId is required"}
        try:
            return 200, self.get_secret_value(SecretId=secret_id)
        except ClientError as error:
            return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]

    def _handler(self):
        extension = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = extension.answer(self.path, self.headers.get(TOKEN_HEADER))
                payload = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler
