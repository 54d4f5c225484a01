"""API Gateway's REST API on loopback, as the Lambda proxy integration
answers: one emulation with two backends. `in_process` serves `make run`:
the Chalice app in this process, its routes and preflights as Chalice's
local gateway reads them from the app, on an ASGI server beside Socket.IO.
`packaged` serves the deployed-shape harness: the packaged template's
routes, preflights and Gateway Responses, in front of the API function run
from deployment.zip. Both turn the function's result into the HTTP answer
here."""
import base64


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
