"""The packaged backend of the API Gateway emulation: the
DefinitionBody's routes (REST proxy events for the API function, with
requestContext, stage and sourceIp; the mock preflights Chalice wrote) and
the Gateway Responses for unknown routes and failed functions."""
import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from devstack.aws.api_gateway import http_response
from devstack.aws.functions import FunctionError
from infra.topology import resources_of_type

DEFAULT_STATUS = {"MISSING_AUTHENTICATION_TOKEN": "403", "DEFAULT_5XX": "502"}


class Gateway:
    """The template's RestAPI on a loopback port; `resolve` evaluates its
    intrinsics and `api` is the API function."""

    def __init__(self, template, resolve, api):
        properties = template["Resources"]["RestAPI"]["Properties"]
        self.stage = properties["StageName"]
        self.body = properties["DefinitionBody"]
        self.resolve = resolve
        self.api = api
        self.responses = {resource["Properties"]["ResponseType"]: resource["Properties"]
                          for resource in resources_of_type(
                              template, "AWS::ApiGateway::GatewayResponse").values()}
        self.binary = set(self.body.get("x-amazon-apigateway-binary-media-types", []))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/{self.stage}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method, target, headers, body, source_ip):
        """(status, [(header, value)], body bytes)."""
        url = urlsplit(target)
        prefix = f"/{self.stage}"
        path = url.path[len(prefix):] if url.path.startswith(prefix + "/") else None
        route = self._route(path) if path else None
        methods = self.body["paths"][route[0]] if route else {}
        operation = methods.get(method.lower()) or methods.get("x-amazon-apigateway-any-method")
        if not operation:
            return self._gateway_response("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        integration = operation["x-amazon-apigateway-integration"]
        if integration["type"] == "mock":
            default = integration["responses"]["default"]
            parameters = self.resolve(default.get("responseParameters", {}))
            return int(default["statusCode"]), [
                (name.rsplit(".", 1)[-1], value.strip("'")) for name, value in parameters.items()
            ], b""
        event = self._proxy_event(method, route, path, url.query, headers, body, source_ip)
        try:
            result = self.api.invoke(event)
        except FunctionError:
            return self._gateway_response("DEFAULT_5XX", "Internal server error")
        return http_response(result)

    def _route(self, path):
        segments = path.strip("/").split("/")
        for template in self.body["paths"]:
            parts = template.strip("/").split("/")
            if len(parts) == len(segments) and all(
                    part.startswith("{") or part == segment
                    for part, segment in zip(parts, segments)):
                return template, {part[1:-1]: segment for part, segment in zip(parts, segments)
                                  if part.startswith("{")}
        return None

    def _proxy_event(self, method, route, path, query, headers, body, source_ip):
        resource, path_parameters = route
        multi_query = parse_qs(query, keep_blank_values=True) if query else None
        binary = headers.get("Content-Type", "").split(";")[0] in self.binary
        now = time.time()
        return {
            "resource": resource, "path": path, "httpMethod": method,
            "headers": dict(headers.items()) or None,
            "multiValueHeaders": {name: headers.get_all(name) for name in headers.keys()} or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()}
            if multi_query else None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None, "stageVariables": None,
            "requestContext": {
                "resourceId": "harness", "resourcePath": resource, "httpMethod": method,
                "extendedRequestId": str(uuid.uuid4()), "requestId": str(uuid.uuid4()),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000), "path": f"/{self.stage}{path}",
                "accountId": "000000000000", "protocol": "HTTP/1.1", "stage": self.stage,
                "domainPrefix": "harness", "domainName": headers.get("Host", ""),
                "apiId": "harness",
                "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent"),
                             "accessKey": None, "accountId": None, "caller": None,
                             "cognitoIdentityId": None, "user": None, "userArn": None}},
            "body": (base64.b64encode(body).decode() if binary else body.decode())
            if body else None,
            "isBase64Encoded": bool(body) and binary,
        }

    def _gateway_response(self, kind, message):
        properties = self.responses.get(kind, {})
        status = int(properties.get("StatusCode", DEFAULT_STATUS[kind]))
        template = properties.get("ResponseTemplates", {}).get(
            "application/json", '{"message":$context.error.messageString}')
        body = template.replace("$context.error.messageString", json.dumps(message)).encode()
        headers = [("Content-Type", "application/json")] + [
            (name.rsplit(".", 1)[-1], value.strip("'"))
            for name, value in self.resolve(properties.get("ResponseParameters", {})).items()]
        return status, headers, body

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = gateway.answer(
                    self.command, self.path, self.headers, body, self.client_address[0])
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
