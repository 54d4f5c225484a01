"""A loopback stand-in for OpenRouter's chat completions endpoint.

The user prompt picks the answer: a prompt containing one of the markers
below gets that behaviour, any other prompt a normal completion, streamed as
OpenRouter streams (`stream: true`): server-sent events with keep-alive
comments, text chunks, a finish reason, usage when asked for, `[DONE]`. It
honours `models`, answering with the first (the second for
`[primary-down]`). Every call is recorded so tests can count AI calls per
prompt.

The body is chunked, as OpenRouter's is; `[close-delimited]` sends it as
HTTP/1.1 without chunks, ended by closing the connection, and `[http/1.0]`
as an HTTP/1.0 response, as some other OpenAI-compatible servers do. With
`[held]` the stream stops after its first text until the test calls
`release(prompt)`, so a test can see what arrives while a stream is open.
`[rate-limited-once]` answers its first call 429 with a Retry-After of 1 s,
`[rate-limited-slowly]` of RETRY_AFTER_SECONDS, time for a test to act
during the client's wait.
As other servers do: `[no-usage]` reports no usage, `[cut]` ends with
`finish_reason: "length"`, `[reasoning]` streams reasoning deltas beside the
text, `[no-done]` closes the stream after its finish reason without `[DONE]`,
and `[endless]` ignores `max_tokens`, streaming three times the longest text
the worker keeps, paced, so that a client which stops reading is seen
(`aborted`).
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.openrouter import MAX_TEXT_CHARACTERS

API_KEY = "test-openrouter-key"
# What OpenRouter charged, in credits (US dollars), for each completion.
COST = 0.000125
HOLD_SECONDS = 15
RETRY_AFTER_SECONDS = 3
# `[endless]`'s words, a thousand characters each with their space.
ENDLESS_WORD = "lorem" * 200


class FakeOpenRouter:
    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay
        self._lock = threading.Lock()
        self._gates = {}
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}/api/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def calls_for(self, prompt):
        with self._lock:
            return [call for call in self.calls if call["prompt"] == prompt]

    def first_call(self, prompt, timeout=20):
        """The first call of `prompt`, once it has come."""
        deadline = time.monotonic() + timeout
        while not self.calls_for(prompt):
            assert time.monotonic() < deadline, f"no call of {prompt!r} in {timeout}s"
            time.sleep(0.1)
        return self.calls_for(prompt)[0]

    def aborted(self, prompt, timeout=10) -> bool:
        """Whether the client went away from the first call of `prompt`
        within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.first_call(prompt).get("aborted"):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    @staticmethod
    def wait_past_retry(call):
        """Sleep until a client honouring the Retry-After `call` was answered
        (a `[rate-limited-slowly]` one) would have called again, with time to
        spare."""
        time.sleep(max(0.0, call["at"] + RETRY_AFTER_SECONDS + 2 - time.time()))

    def release(self, prompt):
        """Let a `[held]` stream of `prompt` go on."""
        self._gate(prompt).set()

    def _gate(self, prompt):
        with self._lock:
            return self._gates.setdefault(prompt, threading.Event())

    def _record(self, call):
        with self._lock:
            self.calls.append(call)
            return sum(1 for c in self.calls if c["prompt"] == call["prompt"])

    def _answer(self, prompt, count):
        """(status, headers, answer, seconds to wait first) for the n-th call
        of a prompt; a 200's answer is a Script."""
        if "[rate-limited-once]" in prompt and count == 1:
            return 429, {"Retry-After": "1"}, {"error": {"message": "Rate limited"}}, 0
        if "[rate-limited-slowly]" in prompt and count == 1:
            return 429, {"Retry-After": str(RETRY_AFTER_SECONDS)}, {
                "error": {"message": "Rate limited"}}, 0
        if "[server-error]" in prompt:
            return 500, {}, {"error": {"message": "Internal error"}}, 0
        if "[payment-required]" in prompt:
            return 402, {}, {"error": {"message": "Insufficient credits"}}, 0
        generated = f"# Generated\n\nContent about: {prompt}"
        if "[slow]" in prompt or ("[slow-once]" in prompt and count == 1):
            return 200, {}, Script(f"Slow answer to: {prompt}"), 30
        if "[one-second]" in prompt:
            return 200, {}, Script(generated), 1
        if "[choice-error]" in prompt:
            return 200, {}, Script("", error="Upstream provider error"), 0
        if "[mid-stream-error]" in prompt:
            return 200, {}, Script(generated, error="Provider disconnected", after=2), 0
        if "[broken-stream]" in prompt or ("[broken-stream-once]" in prompt and count == 1):
            return 200, {}, Script(generated, broken_after=2), 0
        if "[empty]" in prompt:
            return 200, {}, Script("   "), 0
        if "[trickle]" in prompt:
            return 200, {}, Script(generated, pause=0.1), 0
        if "[long]" in prompt:
            return 200, {}, Script(" ".join(["word"] * 120) + f" {prompt}", pause=0.1), 0
        if "[endless]" in prompt:
            words = 3 * MAX_TEXT_CHARACTERS // (len(ENDLESS_WORD) + 1)
            return 200, {}, Script(" ".join([ENDLESS_WORD] * words), pause=0.05), 0
        if "[primary-down]" in prompt:
            return 200, {}, Script(generated, fallback=True), 0
        if "[held]" in prompt:
            return 200, {}, Script(generated, hold=self._gate(prompt)), 0
        for marker in ("[no-usage]", "[cut]", "[reasoning]", "[no-done]"):
            if marker in prompt:
                return 200, {}, Script(generated, quirk=marker), 0
        return 200, {}, Script(generated), self.delay

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 for chunked transfer encoding: each event reaches the
            # client as it is written, as OpenRouter's do.
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                prompt = request["messages"][-1]["content"]
                call = {"prompt": prompt, "request": request,
                        "authorization": self.headers.get("Authorization"),
                        "path": self.path, "at": time.time()}
                count = fake._record(call)
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    status, headers, answer, wait = 401, {}, {"error": {"message": "No auth"}}, 0
                elif not request.get("stream"):
                    status, headers, answer, wait = 400, {}, {"error": {
                        "message": "This fake answers streamed requests only"}}, 0
                else:
                    status, headers, answer, wait = fake._answer(prompt, count)
                if wait:
                    time.sleep(wait)
                self.close_connection = True
                try:
                    if status == 200:
                        self._stream(answer.events(request), call, _framing(prompt))
                    else:
                        self._json(status, headers, answer)
                except OSError:
                    # The client went away (a stopped stream).
                    call["aborted"] = True

            def _json(self, status, headers, body):
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json",
                                    "Connection": "close"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, events, call, framing):
                chunked = framing == "chunked"
                if framing == "HTTP/1.0":
                    self.protocol_version = framing
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    if event is None:
                        # A broken stream: the connection ends mid-message.
                        self.wfile.write(b"ff\r\ndata: {\"cho" if chunked else b"data: {\"cho")
                        self.wfile.flush()
                        return
                    if isinstance(event, float):
                        time.sleep(event)
                        continue
                    if isinstance(event, threading.Event):
                        call["released"] = event.wait(HOLD_SECONDS)
                        continue
                    data = event.encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n"
                                     if chunked else data)
                    self.wfile.flush()
                    if event.startswith("data: {"):
                        call.setdefault("first_chunk_at", time.time())
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args):
                pass

        return Handler


def _framing(prompt):
    if "[close-delimited]" in prompt:
        return "close-delimited"
    if "[http/1.0]" in prompt:
        return "HTTP/1.0"
    return "chunked"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Room for a hundred workers connecting at once (the default is 5).
    request_queue_size = 128


class Script:
    """One answer: its text in chunks of a word each, and how it goes wrong."""

    def __init__(self, text, error=None, after=0, broken_after=None, pause=0.0,
                 fallback=False, hold=None, quirk=None):
        self.text, self.error, self.after = text, error, after
        self.broken_after, self.pause, self.fallback = broken_after, pause, fallback
        self.hold, self.quirk = hold, quirk

    def model(self, request):
        models = request.get("models") or [request.get("model")]
        return models[1] if self.fallback and len(models) > 1 else models[0]

    def chunks(self):
        words = self.text.split(" ")
        return [word + " " for word in words[:-1]] + words[-1:]

    def usage(self, request):
        prompt_tokens = sum(len(m["content"].split()) for m in request["messages"])
        completion_tokens = len(self.text.split())
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "cost": COST}

    def events(self, request):
        """SSE frames, with floats for pauses and None for a cut connection."""
        model = self.model(request)
        yield ": OPENROUTER PROCESSING\n\n"
        for number, text in enumerate(self.chunks()):
            if self.error and number == self.after:
                yield _sse(_chunk(model, "", "error",
                                  error={"code": "server_error", "message": self.error}))
                yield "data: [DONE]\n\n"
                return
            if number == self.broken_after:
                yield None
                return
            if self.pause:
                yield self.pause
            if self.quirk == "[reasoning]":
                yield _sse(_reasoning(model, "reasoning", f"(thinking {number}) "))
                yield _sse(_reasoning(model, "reasoning_content", f"(more {number}) "))
            yield _sse(_chunk(model, text, None))
            if number == 0:
                yield ": OPENROUTER PROCESSING\n\n"
                if self.hold:
                    yield self.hold
        if self.error:
            yield _sse(_chunk(model, "", "error",
                              error={"code": "server_error", "message": self.error}))
        else:
            yield _sse(_chunk(model, "", "length" if self.quirk == "[cut]" else "stop"))
        asked = ((request.get("usage") or {}).get("include")
                 or (request.get("stream_options") or {}).get("include_usage"))
        if asked and self.quirk != "[no-usage]":
            final = _chunk(model, None, None)
            final["choices"], final["usage"] = [], self.usage(request)
            yield _sse(final)
        if self.quirk != "[no-done]":
            yield "data: [DONE]\n\n"


def _chunk(model, text, finish_reason, error=None):
    delta = {} if text is None else {"role": "assistant", "content": text}
    chunk = {"id": "gen-test", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": model, "choices": [{"index": 0, "delta": delta,
                                          "finish_reason": finish_reason}]}
    if error:
        chunk["error"] = error
    return chunk


def _reasoning(model, field, text):
    chunk = _chunk(model, None, None)
    chunk["choices"][0]["delta"] = {"role": "assistant", field: text}
    return chunk


def _sse(chunk):
    return f"data: {json.dumps(chunk)}\n\n"
