"""The AI call: OpenRouter chat completions, bounded in time, with the model,
its parameters and one system prompt per content type kept here."""
import email.utils
import logging
import time

from chalicelib import metrics, settings
from chalicelib.threadsafe import once

log = logging.getLogger(__name__)

PROMPTS = {
    "Blog Post Outline": (
        "You are an expert content strategist. Write a structured blog post outline in "
        "Markdown for the topic the user gives: a title, an introduction, four to six main "
        "sections with bullet points, and a conclusion."),
    "Product Description": (
        "You are an experienced copywriter. Write a persuasive, marketing-focused product "
        "description in Markdown for the product the user describes: a headline, a short "
        "paragraph, key features as bullet points, and a call to action."),
    "Social Media Caption": (
        "You are a social media manager. Write one engaging social media caption for the "
        "subject the user gives: short, friendly, with a few fitting emojis and hashtags."),
}
PARAMETERS = {"temperature": 0.7, "max_tokens": 1200}
RETRYABLE = {408, 429, 502, 503}
FINAL = {400: "OpenRouter rejected the request", 401: "OpenRouter API key is invalid",
         402: "OpenRouter account has insufficient credits",
         403: "OpenRouter refused the request"}
MAX_ATTEMPTS = 4
SAFETY_MARGIN_SECONDS = 2.0


class GenerationFailed(Exception):
    """The AI could not produce content; the message is shown to the user."""


def generate(prompt: str, content_type: str, deadline: float) -> str:
    """Generated Markdown for the prompt; `deadline` is a time.monotonic() by
    which we must have returned (the Lambda's remaining time)."""
    import requests  # only the worker calls out; kept out of the API's cold start

    config = settings.get()
    if config.offline_ai:
        return offline(prompt, content_type)
    request = {"model": config.openrouter_model,
               "messages": [{"role": "system", "content": PROMPTS[content_type]},
                            {"role": "user", "content": prompt}],
               **PARAMETERS}
    failure = "AI service temporarily unavailable"
    for attempt in range(MAX_ATTEMPTS):
        timeout = min(config.openrouter_timeout_seconds,
                      deadline - time.monotonic() - SAFETY_MARGIN_SECONDS)
        if timeout <= 0:
            break
        started = time.monotonic()
        try:
            response = _session().post(
                f"{config.openrouter_base_url}/chat/completions", json=request,
                timeout=timeout, headers=_headers(config))
        except requests.Timeout:
            failure, wait = "OpenRouter request timed out", _backoff(attempt)
        except requests.RequestException as error:
            log.warning("OpenRouter unreachable: %s", type(error).__name__)
            failure, wait = "AI service temporarily unavailable", _backoff(attempt)
        else:
            if response.status_code == 200:
                metrics.ai_call(time.monotonic() - started, _cost(response))
                return _completion(response)
            if response.status_code == 429:
                metrics.throttled("openrouter")
            if response.status_code not in RETRYABLE:
                raise GenerationFailed(_status_message(response))
            failure = _status_message(response)
            wait = _retry_after(response) or _backoff(attempt)
        log.info("OpenRouter attempt %d failed (%s); retrying in %.1fs", attempt + 1,
                 failure, wait)
        if time.monotonic() + wait + SAFETY_MARGIN_SECONDS >= deadline:
            break
        time.sleep(wait)
    raise GenerationFailed(failure)


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


def _completion(response) -> str:
    try:
        body = response.json()
        choice = body["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise GenerationFailed("OpenRouter returned an unreadable response") from None
    error = choice.get("error") or body.get("error")
    if error or choice.get("finish_reason") == "error":
        message = error.get("message") if isinstance(error, dict) else None
        raise GenerationFailed(f"AI generation failed: {message or 'provider error'}")
    text = ((choice.get("message") or {}).get("content") or "").strip()
    if not text:
        raise GenerationFailed("AI returned empty content")
    return text


def _cost(response):
    """OpenRouter's charge for the call (`usage.cost`), if the body has one."""
    try:
        cost = (response.json().get("usage") or {}).get("cost")
    except (ValueError, AttributeError):
        return None
    return cost if isinstance(cost, (int, float)) else None


def _status_message(response) -> str:
    if response.status_code == 429:
        return "OpenRouter API rate limit exceeded"
    if response.status_code in FINAL:
        return FINAL[response.status_code]
    return f"AI service error (HTTP {response.status_code})"


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
