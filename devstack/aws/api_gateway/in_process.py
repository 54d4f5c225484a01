"""The in-process backend of the API Gateway emulation, for `make run`: an
ASGI app in front of the Chalice app in this process, called as Lambda
calls it. Its routes and preflights are the DefinitionBody `chalice
package` generates from the same app, its Gateway Responses the template's;
requests are answered on a thread pool so slow ones (bcrypt, MongoDB) do
not hold up others, and paths no route has are the web client's files."""
import asyncio
import json
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from chalice.deploy.swagger import TemplatedSwaggerGenerator
from chalice.local import LambdaContext

from chalicelib import contract, settings
from chalicelib.errors import MAX_BODY_BYTES
from devstack.aws.api_gateway import RestApi
from infra.package import merge_template, send_every_method_to_the_api
from infra.topology import Resolver, resources_of_type

ROOT = Path(__file__).resolve().parents[3]
# The web client's security headers, written once for every host of it
# (here, and the CDN's response headers policy in AWS).
WEB_HEADERS = json.loads((ROOT / "infra" / "web-headers.json").read_text())
TIMEOUT_MS = 30_000


class ChaliceGateway:
    # Views block on MongoDB and bcrypt, both of which release the GIL; past a
    # few threads per core more only contend for it (measured on 2 cores: 32
    # threads cost 1.72 CPU-ms per GET /content, 8 cost 1.67, 4 cost 1.59).
    def __init__(self, chalice_app, static_dir: Path = None, threads=8):
        config = settings.get()
        definition = TemplatedSwaggerGenerator().generate_swagger(chalice_app)
        send_every_method_to_the_api(definition)
        template = merge_template(config.stage)
        responses = {resource["Properties"]["ResponseType"]: resource["Properties"]
                     for resource in resources_of_type(
                         template, "AWS::ApiGateway::GatewayResponse").values()}
        resolve = Resolver(template, {"CorsOrigin": config.cors_origin})

        def invoke(event):
            return chalice_app(event, LambdaContext(chalice_app.app_name, 256, TIMEOUT_MS))

        self.api = RestApi(definition, config.stage, resolve, responses, invoke, prefix="")
        self._static_dir = static_dir.resolve() if static_dir else None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="api")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        if body is None:
            await _send(send, 413, json.dumps({"message": contract.BODY_TOO_LARGE}).encode(),
                        [("content-type", "application/json"),
                         ("access-control-allow-origin", settings.get().cors_origin)])
            return
        method, path = scope["method"], scope["path"]
        static = (self._static_file(path) if method in ("GET", "HEAD")
                  and self.api.route(path) is None else None)
        if static is not None:
            kind = mimetypes.guess_type(static.name)[0] or "application/octet-stream"
            await _send(send, 200, static.read_bytes(),
                        [("content-type", kind), *WEB_HEADERS.items()])
            return
        # API Gateway routes the path as sent: an encoded "?" stays in its segment.
        raw_path = scope.get("raw_path")
        raw_path = raw_path.decode("latin-1") if raw_path else quote(path)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        peer = (scope.get("client") or ("127.0.0.1",))[0]
        status, response_headers, payload = await asyncio.get_running_loop().run_in_executor(
            self._pool, self.api.answer, method, raw_path,
            scope["query_string"].decode("latin-1"), headers, body, peer)
        await _send(send, status, payload,
                    [(name.lower(), value) for name, value in response_headers])

    def _static_file(self, path):
        if self._static_dir is None:
            return None
        relative = path.lstrip("/") or "index.html"
        candidate = (self._static_dir / relative).resolve()
        if self._static_dir not in candidate.parents or not candidate.is_file():
            return None
        return candidate


async def _read_body(receive):
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _send(send, status, body, headers):
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers
               if k != "content-length"]
    encoded.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": body})
