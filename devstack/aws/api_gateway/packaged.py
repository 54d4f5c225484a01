"""The packaged backend of the API Gateway emulation: the template's RestAPI
(its DefinitionBody and Gateway Responses) on a loopback port, in front of
the API function run from deployment.zip."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from devstack.aws.api_gateway import RestApi
from infra.topology import resources_of_type


class Gateway:
    """The template's RestAPI; `resolve` evaluates its intrinsics and `api`
    is the API function."""

    def __init__(self, template, resolve, api):
        properties = template["Resources"]["RestAPI"]["Properties"]
        responses = {resource["Properties"]["ResponseType"]: resource["Properties"]
                     for resource in resources_of_type(
                         template, "AWS::ApiGateway::GatewayResponse").values()}
        stage = properties["StageName"]
        self.api = RestApi(properties["DefinitionBody"], stage, resolve, responses, api.invoke,
                           prefix=f"/{stage}")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/{stage}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        api = self.api

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = urlsplit(self.path)
                status, headers, payload = api.answer(
                    self.command, target.path, target.query, self.headers.items(), body,
                    self.client_address[0])
                self.send_response(status)
                for name, value in headers:
                    if name.lower() != "content-length":
                        self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _any

            def log_message(self, *args):
                pass

        return Handler
