"""A loopback stand-in for OpenRouter's chat completions endpoint.

The user prompt picks the answer: a prompt containing one of the markers
below gets that behaviour, any other prompt a normal completion. Every call
is recorded so tests can count AI calls per prompt.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "test-openrouter-key"


class FakeOpenRouter:
    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/api/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def calls_for(self, prompt):
        with self._lock:
            return [call for call in self.calls if call["prompt"] == prompt]

    def _record(self, call):
        with self._lock:
            self.calls.append(call)
            return sum(1 for c in self.calls if c["prompt"] == call["prompt"])

    def _answer(self, prompt, count):
        """(status, headers, body, seconds to wait first) for the n-th call of a prompt."""
        if "[rate-limited-once]" in prompt and count == 1:
            return 429, {"Retry-After": "1"}, {"error": {"message": "Rate limited"}}, 0
        if "[server-error]" in prompt:
            return 500, {}, {"error": {"message": "Internal error"}}, 0
        if "[payment-required]" in prompt:
            return 402, {}, {"error": {"message": "Insufficient credits"}}, 0
        if "[slow]" in prompt:
            return 200, {}, _completion(f"Slow answer to: {prompt}"), 30
        if "[slow-once]" in prompt and count == 1:
            return 200, {}, _completion(f"Slow answer to: {prompt}"), 30
        if "[one-second]" in prompt:
            return 200, {}, _completion(f"# Generated\n\nContent about: {prompt}"), 1
        if "[choice-error]" in prompt:
            body = _completion("")
            body["choices"][0]["error"] = {"code": 502, "message": "Upstream provider error"}
            body["choices"][0]["finish_reason"] = "error"
            return 200, {}, body, 0
        if "[empty]" in prompt:
            return 200, {}, _completion("   "), 0
        return 200, {}, _completion(f"# Generated\n\nContent about: {prompt}"), self.delay

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                prompt = request["messages"][-1]["content"]
                count = fake._record({"prompt": prompt, "request": request,
                                      "authorization": self.headers.get("Authorization"),
                                      "path": self.path, "at": time.time()})
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    status, headers, body, wait = 401, {}, {"error": {"message": "No auth"}}, 0
                else:
                    status, headers, body, wait = fake._answer(prompt, count)
                if wait:
                    time.sleep(wait)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in {**headers, "Content-Type": "application/json"}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        return Handler


# What OpenRouter charged, in credits (US dollars), for each completion.
COST = 0.000125


def _completion(text):
    return {"id": "gen-test", "object": "chat.completion", "model": "test/model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100,
                      "cost": COST}}
