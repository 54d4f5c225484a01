"""API Gateway's REST API on loopback, as the Lambda proxy integration
answers, written once: the routes and the mock preflights of a
DefinitionBody, the proxy event, the Gateway Responses and the translation
of the function's result into the HTTP answer. What varies is the backend,
a callable from the event to the function's result that raises
FunctionError when the function fails: `packaged` serves the deployed-shape
harness, the packaged template in front of the API function run from
deployment.zip; `in_process` serves `make run`, the DefinitionBody Chalice
generates from the app in this process, called as Lambda calls it."""
import base64
import json
import time
import uuid
from urllib.parse import parse_qs

from devstack.aws.functions import FunctionError

ANY_METHOD = "x-amazon-apigateway-any-method"
MISSING_ROUTE, FAILED_FUNCTION = "MISSING_AUTHENTICATION_TOKEN", "DEFAULT_5XX"
DEFAULTS = {MISSING_ROUTE: ("403", "Missing Authentication Token"),
            FAILED_FUNCTION: ("502", "Internal server error")}


class RestApi:
    """`definition`: the DefinitionBody; `responses`: {response type: the
    GatewayResponse's properties}; `resolve` evaluates the intrinsics in
    both; `prefix` is the stage's path on the URL ("" as on a custom
    domain mapped at the root)."""

    def __init__(self, definition, stage, resolve, responses, backend, prefix):
        self.definition, self.stage, self.resolve = definition, stage, resolve
        self.responses, self.backend, self.prefix = responses, backend, prefix
        self.binary = set(definition.get("x-amazon-apigateway-binary-media-types", []))
        # Literal segments before captures, so /a/b is /a/b's and not /a/{id}'s.
        self._routes = [(template, template.strip("/").split("/"))
                        for template in sorted(definition["paths"])]

    def route(self, path):
        """(the path's route, its path parameters), or None."""
        segments = path.strip("/").split("/")
        for template, parts in self._routes:
            if len(parts) == len(segments) and all(
                    part.startswith("{") or part == segment
                    for part, segment in zip(parts, segments)):
                return template, {part[1:-1]: segment for part, segment in zip(parts, segments)
                                  if part.startswith("{")}
        return None

    def answer(self, method, path, query, headers, body, source_ip):
        """(status, [(header, value)], body bytes) for a request: `path` as
        sent (still percent-encoded, so an encoded "?" stays in its segment),
        `headers` [(name, value)], `body` bytes."""
        path = path[len(self.prefix):] if path.startswith(self.prefix + "/") else None
        route = self.route(path) if path else None
        methods = self.definition["paths"][route[0]] if route else {}
        operation = methods.get(method.lower()) or methods.get(ANY_METHOD)
        if not operation:
            return self._gateway_response(MISSING_ROUTE)
        integration = operation["x-amazon-apigateway-integration"]
        if integration["type"] == "mock":
            default = integration["responses"]["default"]
            return int(default["statusCode"]), _parameters(
                self.resolve(default.get("responseParameters", {}))), b""
        try:
            result = self.backend(self._proxy_event(method, route, path, query, headers, body,
                                                    source_ip))
        except FunctionError:
            return self._gateway_response(FAILED_FUNCTION)
        return http_response(result)

    def _proxy_event(self, method, route, path, query, headers, body, source_ip):
        resource, path_parameters = route
        multi_headers = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        named = {name.lower(): values[-1] for name, values in multi_headers.items()}
        multi_query = parse_qs(query, keep_blank_values=True) if query else None
        binary = named.get("content-type", "").split(";")[0] in self.binary
        body, encoded = _event_body(body, binary)
        now = time.time()
        return {
            "resource": resource, "path": path, "httpMethod": method,
            "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()}
            if multi_query else None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None, "stageVariables": None,
            "requestContext": {
                "resourceId": "loopback", "resourcePath": resource, "httpMethod": method,
                "extendedRequestId": str(uuid.uuid4()), "requestId": str(uuid.uuid4()),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000), "path": f"{self.prefix}{path}",
                "accountId": "000000000000", "protocol": "HTTP/1.1", "stage": self.stage,
                "domainPrefix": "loopback", "domainName": named.get("host", ""),
                "apiId": "loopback",
                "identity": {"sourceIp": source_ip, "userAgent": named.get("user-agent"),
                             "accessKey": None, "accountId": None, "caller": None,
                             "cognitoIdentityId": None, "user": None, "userArn": None}},
            "body": body, "isBase64Encoded": encoded,
        }

    def _gateway_response(self, kind):
        properties = self.responses.get(kind, {})
        status, message = DEFAULTS[kind]
        template = properties.get("ResponseTemplates", {}).get(
            "application/json", '{"message":$context.error.messageString}')
        body = template.replace("$context.error.messageString", json.dumps(message)).encode()
        headers = [("Content-Type", "application/json")] + _parameters(
            self.resolve(properties.get("ResponseParameters", {})))
        return int(properties.get("StatusCode", status)), headers, body


def _event_body(body, binary):
    """(the event's body, isBase64Encoded). A text body that is not UTF-8
    goes as its bytes, so the function answers it (a 400) rather than the
    emulation failing."""
    if not body:
        return None, False
    if not binary:
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def _parameters(parameters):
    """A mapping's {"method.response.header.Name": "'value'"} as [(Name, value)]."""
    return [(name.rsplit(".", 1)[-1], value.strip("'")) for name, value in parameters.items()]


def http_response(result):
    """A proxy integration's result as (status, [(header, value)], body bytes)."""
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [(name, str(value))
                for name, values in (result.get("multiValueHeaders") or {}).items()
                for value in values]
    body = result.get("body") or b""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body)
    elif isinstance(body, str):
        body = body.encode()
    return int(result["statusCode"]), headers, body
