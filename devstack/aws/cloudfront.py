"""The template's CloudFront distribution on loopback: its behaviours in
order (the first path pattern that matches, else the default), each to its
origin, with the response headers policy on the behaviours that name it.
The bucket's origin serves what `make deploy` uploads (infra/publish_web.py:
the same files, content types and cache headers); the others are proxied,
websockets included, with the origin's path prepended as CloudFront does."""
import asyncio
import threading
from fnmatch import fnmatchcase

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host",
              "content-length", "content-encoding"}


class Distribution:
    """`origins`: {origin id: base URL}, and for the bucket's origin id a
    dict {key: (body, content type, cache control)}."""

    def __init__(self, template, origins, port=0):
        resources = template["Resources"]
        config = resources["WebDistribution"]["Properties"]["DistributionConfig"]
        self.behaviours = [(b["PathPattern"], b) for b in config["CacheBehaviors"]]
        self.default = config["DefaultCacheBehavior"]
        self.root_object = config.get("DefaultRootObject")
        paths = {origin["Id"]: origin.get("OriginPath", "") for origin in config["Origins"]}
        self.origins = {name: target if isinstance(target, dict) else target + paths[name]
                        for name, target in origins.items()}
        self.headers = _policy_headers(resources["WebHeadersPolicy"]["Properties"])
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self.port = port
        threading.Thread(target=self._serve, daemon=True).start()
        self._started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def behaviour(self, path):
        return next((b for pattern, b in self.behaviours if fnmatchcase(path, pattern)),
                    self.default)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _close(self):
        await self._runner.cleanup()
        await self._session.close()

    def _serve(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession(loop=self._loop, auto_decompress=False)
        self._started.set()
        self._loop.run_forever()

    async def _answer(self, request):
        behaviour = self.behaviour(request.path)
        origin = self.origins[behaviour["TargetOriginId"]]
        if isinstance(origin, dict):
            response = self._file(origin, request.path)
        elif request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, origin)
        else:
            response = await self._proxy(request, origin)
        if "ResponseHeadersPolicyId" in behaviour:
            response.headers.update(self.headers)
        return response

    def _file(self, bucket, path):
        key = path.lstrip("/") or self.root_object
        if key not in bucket:
            # S3 answers a missing key, through origin access control, 403.
            return web.Response(status=403, text="AccessDenied", content_type="application/xml")
        body, kind, cache = bucket[key]
        return web.Response(body=body, headers={"Content-Type": kind, "Cache-Control": cache})

    async def _proxy(self, request, origin):
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(request.method, origin + request.rel_url.path_qs,
                                         headers=headers, data=body or None,
                                         allow_redirects=False) as answer:
            body = await answer.read()
            response = web.Response(status=answer.status, body=body)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            return response

    async def _websocket(self, request, origin):
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("origin", "cookie", "user-agent")}
        url = origin.replace("http", "ws", 1) + request.rel_url.path_qs
        async with self._session.ws_connect(url, headers=headers) as upstream:
            downstream = web.WebSocketResponse()
            await downstream.prepare(request)
            await asyncio.gather(_pump(upstream, downstream), _pump(downstream, upstream))
            return downstream


async def _pump(source, sink):
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
    await sink.close()


def _policy_headers(policy):
    """The security headers a ResponseHeadersPolicy adds, as CloudFront
    writes them."""
    config = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    headers = {}
    if "ContentSecurityPolicy" in config:
        headers["Content-Security-Policy"] = " ".join(
            config["ContentSecurityPolicy"]["ContentSecurityPolicy"].split())
    if "ContentTypeOptions" in config:
        headers["X-Content-Type-Options"] = "nosniff"
    if "FrameOptions" in config:
        headers["X-Frame-Options"] = config["FrameOptions"]["FrameOption"]
    if "ReferrerPolicy" in config:
        headers["Referrer-Policy"] = config["ReferrerPolicy"]["ReferrerPolicy"]
    if "StrictTransportSecurity" in config:
        sts = config["StrictTransportSecurity"]
        headers["Strict-Transport-Security"] = f"max-age={sts['AccessControlMaxAgeSec']}" + (
            "; includeSubDomains" if sts.get("IncludeSubdomains") else "")
    return headers
