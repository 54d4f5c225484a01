"""API Gateway on loopback: an ASGI app that turns HTTP requests into the
events the Chalice app receives in Lambda, on a thread pool so slow requests
(bcrypt, MongoDB) do not hold up others."""
import asyncio
import base64
import json
import mimetypes
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chalice.config import Config
from chalice.local import LambdaEventConverter, LocalGateway, LocalGatewayException

from chalicelib import settings
from chalicelib.errors import MAX_BODY_BYTES


# The ASGI path is decoded, and Chalice's route matcher parses it as a URL
# again: a decoded "?" or "#" in an id would cut the path short (POST
# /generate-content/a%3F/save would match GET /generate-content/{job_id}).
URL_SYNTAX = str.maketrans({"%": "%25", "?": "%3F", "#": "%23"})


class ChaliceGateway:
    # Views block on MongoDB and bcrypt, both of which release the GIL; past a
    # few threads per core more only contend for it (measured on 2 cores: 32
    # threads cost 1.72 CPU-ms per GET /content, 8 cost 1.67, 4 cost 1.59).
    def __init__(self, chalice_app, static_dir: Path = None, threads=8):
        config = Config.create(chalice_stage="local", app_name=chalice_app.app_name,
                               lambda_timeout=30)
        self._gateway = LocalGateway(chalice_app, config)
        self._peer = _PeerAddress(self._gateway.event_converter)
        self._gateway.event_converter = self._peer
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
            await _send(send, 413, {"message": "Request body too large"})
            return
        path = scope["path"].translate(URL_SYNTAX)
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        peer = (scope.get("client") or (LambdaEventConverter.LOCAL_SOURCE_IP,))[0]
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(
                self._pool, self._handle, peer, scope["method"], path, headers, body)
        except LocalGatewayException:
            await self._not_an_api_route(scope, send)
            return
        await _send_lambda_response(send, response)

    def _handle(self, peer, method, path, headers, body):
        self._peer.address = peer
        return self._gateway.handle_request(method, path, headers, body)

    async def _not_an_api_route(self, scope, send):
        static = self._static_file(scope["path"]) if scope["method"] in ("GET", "HEAD") else None
        if static is None:
            await _send(send, 404, {"message": "Not found"})
            return
        kind = mimetypes.guess_type(static.name)[0] or "application/octet-stream"
        await _send_raw(send, 200, static.read_bytes(), [("content-type", kind)])

    def _static_file(self, path):
        if self._static_dir is None:
            return None
        relative = path.lstrip("/") or "index.html"
        candidate = (self._static_dir / relative).resolve()
        if self._static_dir not in candidate.parents or not candidate.is_file():
            return None
        return candidate


class _PeerAddress(threading.local):
    """Wraps LocalGateway's event converter, which names 127.0.0.1 as every
    request's source, to name the socket's peer instead, as API Gateway does
    in `requestContext.identity.sourceIp`. Per thread, as each request is
    handled on a thread of its own."""

    def __init__(self, converter):
        self._converter = converter
        self.address = LambdaEventConverter.LOCAL_SOURCE_IP

    def create_lambda_event(self, *args, **kwargs):
        event = self._converter.create_lambda_event(*args, **kwargs)
        event["requestContext"]["identity"]["sourceIp"] = self.address
        return event


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


async def _send_lambda_response(send, response):
    headers = [(k.lower(), str(v)) for k, v in (response.get("headers") or {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers += [(name.lower(), str(value)) for value in values]
    body = response.get("body") or b""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    elif isinstance(body, str):
        body = body.encode()
    await _send_raw(send, response["statusCode"], body, headers)


async def _send(send, status, payload):
    headers = [("content-type", "application/json"),
               ("access-control-allow-origin", settings.get().cors_origin)]
    await _send_raw(send, status, json.dumps(payload, separators=(",", ":")).encode(), headers)


async def _send_raw(send, status, body, headers):
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers
               if k != "content-length"]
    encoded.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": body})
