"""The OpenRouter client against the loopback fake: bounded in time, honest
about failures."""
import os
import time

import pytest

from chalicelib import openrouter, settings


@pytest.fixture(autouse=True)
def fake(openrouter, backing):
    return openrouter


def test_a_completion_sends_the_model_the_type_prompt_and_the_key(fake):
    text = openrouter.generate("Reusable bottle", "Product Description", time.monotonic() + 30)
    assert text == "# Generated\n\nContent about: Reusable bottle"
    call = fake.calls_for("Reusable bottle")[0]
    assert call["path"] == "/api/v1/chat/completions"
    assert call["authorization"] == "Bearer test-openrouter-key"
    assert call["request"]["model"] == "openai/gpt-4o-mini"
    assert call["request"]["messages"] == [
        {"role": "system", "content": openrouter.PROMPTS["Product Description"]},
        {"role": "user", "content": "Reusable bottle"}]


def test_a_call_slower_than_the_time_left_fails_as_timed_out(fake):
    started = time.monotonic()
    with pytest.raises(openrouter.GenerationFailed, match="OpenRouter request timed out"):
        openrouter.generate("[slow] bounded", "Blog Post Outline", started + 4)
    assert time.monotonic() - started < 4


def test_no_retry_is_started_that_cannot_finish_in_time(fake):
    prompt = f"[rate-limited-once] no time {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed, match="rate limit exceeded"):
        openrouter.generate(prompt, "Blog Post Outline", time.monotonic() + 2.5)
    assert len(fake.calls_for(prompt)) == 1


def configure(monkeypatch, **overrides):
    monkeypatch.setattr(settings, "get", lambda: settings.from_env({**os.environ, **overrides}))


def test_a_rejected_key_fails_at_once(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_API_KEY="wrong-key")
    prompt = f"bad key {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed, match="OpenRouter API key is invalid"):
        openrouter.generate(prompt, "Blog Post Outline", time.monotonic() + 30)
    assert len(fake.calls_for(prompt)) == 1


def test_without_a_key_another_compatible_server_is_still_called(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_API_KEY="")
    prompt = f"keyless {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed, match="OpenRouter API key is invalid"):
        openrouter.generate(prompt, "Blog Post Outline", time.monotonic() + 30)
    assert fake.calls_for(prompt)[0]["authorization"] is None


def test_without_a_key_for_openrouter_the_offline_provider_says_so(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_API_KEY="", OPENROUTER_BASE_URL="")
    text = openrouter.generate("offline prompt", "Social Media Caption", time.monotonic() + 30)
    assert "OFFLINE" in text and "offline prompt" in text
    assert fake.calls_for("offline prompt") == []
