"""The AI call: OpenRouter chat completions, streamed and bounded in time,
with the models and their parameters kept here (each content type's system
prompt is the contract's). Any OpenAI-compatible server can stand in for
OpenRouter (see docs/operations.md): usage is asked for the way it
understands, estimated when it reports none, and a text cut at the token
limit, or at the most a job keeps, says so."""
import dataclasses
import email.utils
import json
import logging
import time
from dataclasses import dataclass
from typing import Optional

from chalicelib import contract, metrics, options, settings, storage
from chalicelib.threadsafe import once

log = logging.getLogger(__name__)

PARAMETERS = {"temperature": 0.7}
RETRYABLE = {408, 429, 502, 503}
MAX_ATTEMPTS = 4
READ_BYTES = 65536
# OpenAI's rule of thumb for English text, for servers that report no usage.
CHARACTERS_PER_TOKEN = 4
# The longest text one call keeps, counted as the library counts characters:
# what the most tokens OPENROUTER_MAX_TOKENS may ask for hold. A server that
# ignores max_tokens is cut here too, so three variants of every finished
# job keep GET /generate-content under Lambda's 6 MB (tests/test_storage.py
# proves it at the caps).
MAX_TEXT_CHARACTERS = settings.NUMBERS["OPENROUTER_MAX_TOKENS"][2] * CHARACTERS_PER_TOKEN
SAFETY_MARGIN_SECONDS = 2.0


class GenerationFailed(Exception):
    """The AI could not produce content; the message is shown to the user."""


class _StreamBroken(Exception):
    """The stream ended before OpenRouter said it was finished: nothing
    complete was billed, so the call may be retried within the usual rules."""


@dataclass(frozen=True)
class Generation:
    text: str
    model: Optional[str]
    usage: Optional[dict]
    finish_reason: Optional[str] = None

    def spend(self) -> dict:
        """What the job keeps of the call besides its text, when known: a
        finish reason only when the text did not end by itself (`length`:
        cut at max_tokens)."""
        kept = {key: value for key, value in (("usage", self.usage), ("model", self.model))
                if value}
        if self.finish_reason not in (None, "stop"):
            kept["finishReason"] = self.finish_reason
        return kept


def stream(prompt: str, content_type: str, deadline: float, on_text=None,
           brief=None, before_call=None) -> Generation:
    """Generated Markdown for the prompt, streamed; `deadline` is a
    time.monotonic() by which we must have returned (the Lambda's remaining
    time). `on_text(text_so_far)` is called as the text grows, and
    `before_call()` before every paid attempt, the first and each retry; an
    exception either raises stops the call at once and propagates (a
    cancelled job). `brief` is the job, whose options, voice or rewrite
    shape the prompt."""
    import requests  # only the worker calls out; kept out of the API's cold start

    config = settings.get()
    if config.offline_ai:
        text = offline(prompt, content_type)
        if on_text:
            on_text(text)
        return Generation(text, "offline", None)
    request = _request(config, _for_template(options.messages(prompt, content_type, brief or {}),
                                             config.openrouter_instructions_role))
    failure = contract.AI_UNAVAILABLE
    for attempt in range(MAX_ATTEMPTS):
        timeout = min(config.openrouter_timeout_seconds,
                      deadline - time.monotonic() - SAFETY_MARGIN_SECONDS)
        if timeout <= 0:
            break
        if before_call:
            before_call()
        started = time.monotonic()
        try:
            with _session().post(f"{config.openrouter_base_url}/chat/completions",
                                 json=request, timeout=timeout, headers=_headers(config),
                                 stream=True) as response:
                if response.status_code == 200:
                    generation = _with_usage(_read_stream(response, deadline, on_text),
                                             request, config)
                    # The latency of a streamed call: until its last chunk.
                    metrics.ai_call(time.monotonic() - started,
                                    (generation.usage or {}).get("cost"))
                    return generation
                if response.status_code == 429:
                    metrics.throttled("openrouter")
                if response.status_code not in RETRYABLE:
                    raise GenerationFailed(_status_message(response))
                failure = _status_message(response)
                wait = _retry_after(response) or _backoff(attempt)
        except requests.Timeout:
            failure, wait = contract.AI_TIMED_OUT, _backoff(attempt)
        except (requests.RequestException, _StreamBroken) as error:
            log.warning("OpenRouter unreachable or stream broken: %s", type(error).__name__)
            failure, wait = contract.AI_UNAVAILABLE, _backoff(attempt)
        log.info("OpenRouter attempt %d failed (%s); retrying in %.1fs", attempt + 1,
                 failure, wait)
        if time.monotonic() + wait + SAFETY_MARGIN_SECONDS >= deadline:
            break
        time.sleep(wait)
    raise GenerationFailed(failure)


def _request(config, messages):
    models = config.openrouter_models
    request = {"model": models[0], "messages": messages, **PARAMETERS,
               "max_tokens": config.openrouter_max_tokens, "stream": True,
               "usage": {"include": True}}
    if config.openrouter_base_url != settings.OPENROUTER_URL:
        # How vLLM, Ollama and OpenAI itself are asked for usage in a stream.
        request["stream_options"] = {"include_usage": True}
    if len(models) > 1:
        # OpenRouter tries them in order when one is down or rate limited.
        request["models"] = list(models)
    return request


def _for_template(messages, role):
    """The messages as the server is sent them: the system message first;
    or, for a server whose chat template drops it (Gemma's), opening the
    user's message, which every template keeps."""
    if role == "system":
        return messages
    system, user = messages
    return [{"role": "user", "content": f"{system['content']}\n\n{user['content']}"}]


def _headers(config):
    headers = {"X-Title": "AI Content Generator"}
    if config.openrouter_api_key:
        headers["Authorization"] = f"Bearer {config.openrouter_api_key}"
    return headers


def offline(prompt: str, content_type: str) -> str:
    return (f"> Produced OFFLINE by the local development provider, not by an AI model: "
            f"set OPENROUTER_API_KEY to generate real content.\n\n"
            f"# {content_type}: {prompt}\n\n"
            f"- A placeholder {content_type.lower()} for \"{prompt}\".\n"
            f"- It shows the whole flow (queue, worker, notification, save) working offline.\n")


def _read_stream(response, deadline, on_text) -> Generation:
    """Reads the server-sent events to the end, or to MAX_TEXT_CHARACTERS,
    where the text is cut as at the token limit. Keep-alive comments are
    skipped; an error event fails at once, since OpenRouter has ended that
    generation; a stream cut short is _StreamBroken."""
    import requests
    import urllib3

    parts, model, usage, finish_reason, finished = [], None, None, None, False
    kept = 0
    try:
        for data in _events(response):
            if time.monotonic() + SAFETY_MARGIN_SECONDS >= deadline:
                raise GenerationFailed(contract.AI_TIMED_OUT)
            if data == "[DONE]":
                finished = True
                break
            chunk = _chunk(data)
            model = chunk.get("model") or model
            usage = _usage(chunk.get("usage")) or usage
            before = kept
            for choice in chunk.get("choices") or []:
                if choice.get("finish_reason") == "error":
                    raise GenerationFailed(contract.ai_failed())
                finish_reason = choice.get("finish_reason") or finish_reason
                finished = finished or bool(finish_reason)
                # Only `content`: a reasoning model's `reasoning` or
                # `reasoning_content` deltas are not the piece.
                text = (choice.get("delta") or {}).get("content")
                if text:
                    parts.append(text)
                    kept += storage.characters(text)
            cut = kept > MAX_TEXT_CHARACTERS
            if cut:
                parts = [_cut("".join(parts), MAX_TEXT_CHARACTERS)]
                finish_reason, finished = "length", True
            if on_text and kept > before:
                on_text("".join(parts))
            if cut:
                # Leaving the stream closes it, which stops the generation.
                break
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        if not finished:
            raise _StreamBroken() from error
    if not finished:
        raise _StreamBroken()
    text = "".join(parts).strip()
    if not text:
        raise GenerationFailed(contract.AI_EMPTY)
    return Generation(text, model, usage, finish_reason)


def _cut(text, most):
    """The start of `text` that is `most` characters long as the library
    counts them, never half of a character."""
    return text.encode("utf-16-le", "surrogatepass")[:most * 2].decode("utf-16-le", "ignore")


def _with_usage(generation, request, config) -> Generation:
    """The usage the server reported; the tokens estimated from the text
    (and marked so) when it reported none, as llama.cpp's server does not,
    so the month's totals and the limits still count the job; the cost at
    OPENROUTER_PRICE_PER_MILLION_TOKENS when the server gives none."""
    usage = dict(generation.usage or {})
    if "completionTokens" not in usage:
        prompt = sum(len(message["content"]) for message in request["messages"])
        usage = {"promptTokens": _tokens(prompt),
                 "completionTokens": _tokens(len(generation.text)), "estimated": True}
    usage.setdefault("totalTokens", usage.get("promptTokens", 0) + usage["completionTokens"])
    usage.setdefault("cost", round(
        usage["totalTokens"] * config.openrouter_price_per_million_tokens / 1_000_000, 8))
    return dataclasses.replace(generation, usage=usage)


def estimated_cost(prompt_characters: int) -> float:
    """What one call may cost before it is made, at
    OPENROUTER_PRICE_PER_MILLION_TOKENS: the prompt's tokens (the
    instructions around it are small beside the answer) and the longest
    answer asked for."""
    config = settings.get()
    tokens = _tokens(prompt_characters) + config.openrouter_max_tokens
    return round(tokens * config.openrouter_price_per_million_tokens / 1_000_000, 8)


def _tokens(characters):
    return -(-characters // CHARACTERS_PER_TOKEN)


def _events(response):
    """The `data` of each server-sent event; comment lines (`:`) are
    keep-alives."""
    lines = []
    for line in _lines(response):
        line = line.decode("utf-8", "replace")
        if line.startswith(":"):
            continue
        if line:
            if line.startswith("data:"):
                lines.append(line[5:].removeprefix(" "))
            continue
        if lines:
            yield "\n".join(lines)
            lines = []
    if lines:
        yield "\n".join(lines)


def _lines(response):
    """The body's lines as they arrive, whatever its framing. read1 returns
    what the connection has so far, chunked or not; iter_lines(chunk_size=None)
    yields a chunked body chunk by chunk but reads one ended by closing the
    connection (HTTP/1.0, or HTTP/1.1 without chunks) to its end first."""
    pending = b""
    while data := response.raw.read1(READ_BYTES, decode_content=True):
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r")
    if pending:
        yield pending


def _chunk(data) -> dict:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise GenerationFailed(contract.AI_UNREADABLE) from None
    if not isinstance(chunk, dict):
        raise GenerationFailed(contract.AI_UNREADABLE)
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else None
        raise GenerationFailed(contract.ai_failed(message))
    return chunk


def _usage(usage):
    """OpenRouter's usage as the job keeps it: tokens and cost in credits."""
    if not isinstance(usage, dict):
        return None
    names = {"prompt_tokens": "promptTokens", "completion_tokens": "completionTokens",
             "total_tokens": "totalTokens", "cost": "cost"}
    kept = {ours: usage[theirs] for theirs, ours in names.items()
            if isinstance(usage.get(theirs), (int, float))}
    return kept or None


def _status_message(response) -> str:
    if response.status_code == 429:
        return contract.AI_RATE_LIMITED
    if response.status_code in contract.AI_REFUSED:
        return contract.AI_REFUSED[response.status_code]
    return contract.ai_http_error(response.status_code)


def _retry_after(response):
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2 ** attempt)


@once
def _session():
    import requests

    # One pooled session per container, so warm invocations reuse the TLS
    # connection.
    return requests.Session()
