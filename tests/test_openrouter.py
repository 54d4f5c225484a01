"""The OpenRouter client against the loopback fake: bounded in time, honest
about failures."""
import os
import time

import pytest

from chalicelib import contract, openrouter, settings
from tests.support.fake_openrouter import COST


@pytest.fixture(autouse=True)
def fake(openrouter, backing):
    return openrouter


def test_a_completion_sends_the_model_the_type_prompt_and_the_key(fake):
    text = openrouter.stream("Reusable bottle", "Product Description", time.monotonic() + 30).text
    assert text == "# Generated\n\nContent about: Reusable bottle"
    call = fake.calls_for("Reusable bottle")[0]
    assert call["path"] == "/api/v1/chat/completions"
    assert call["authorization"] == "Bearer test-openrouter-key"
    assert call["request"]["model"] == "openai/gpt-4o-mini"
    assert "models" not in call["request"]
    assert call["request"]["messages"] == [
        {"role": "system", "content": contract.CONTENT_TYPES["Product Description"].prompt},
        {"role": "user", "content": "Reusable bottle"}]


def test_the_call_streams_and_asks_for_usage(fake):
    openrouter.stream("Streamed ask", "Blog Post Outline", time.monotonic() + 30)
    request = fake.calls_for("Streamed ask")[0]["request"]
    assert (request["stream"], request["usage"]) == (True, {"include": True})


def test_the_text_arrives_as_it_grows_past_keep_alives(fake):
    seen = []
    result = openrouter.stream("[trickle] growing", "Blog Post Outline", time.monotonic() + 30,
                               on_text=seen.append)
    assert result.text == "# Generated\n\nContent about: [trickle] growing"
    assert len(seen) > 2
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:]))
    assert seen[-1] == result.text


def test_the_result_carries_the_usage_and_the_model_that_answered(fake):
    result = openrouter.stream("Usage please", "Social Media Caption", time.monotonic() + 30)
    system_words = len(contract.CONTENT_TYPES["Social Media Caption"].prompt.split())
    completion = len("# Generated\n\nContent about: Usage please".split())
    assert result.model == "openai/gpt-4o-mini"
    assert result.usage == {"promptTokens": system_words + 2, "completionTokens": completion,
                            "totalTokens": system_words + 2 + completion,
                            "cost": COST}


def test_an_error_in_the_middle_of_the_stream_fails_at_once(fake):
    prompt = f"[mid-stream-error] {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed,
                       match="AI generation failed: Provider disconnected"):
        openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30)
    assert len(fake.calls_for(prompt)) == 1


def test_a_choice_error_is_a_failure(fake):
    with pytest.raises(openrouter.GenerationFailed,
                       match="AI generation failed: Upstream provider error"):
        openrouter.stream("[choice-error] x", "Blog Post Outline", time.monotonic() + 30)


def test_an_empty_completion_is_a_failure(fake):
    with pytest.raises(openrouter.GenerationFailed, match="AI returned empty content"):
        openrouter.stream("[empty] x", "Blog Post Outline", time.monotonic() + 30)


def test_a_stream_cut_short_is_retried_and_the_text_starts_over(fake):
    prompt = f"[broken-stream-once] {time.monotonic_ns()}"
    seen = []
    result = openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30,
                               on_text=seen.append)
    assert result.text == f"# Generated\n\nContent about: {prompt}"
    assert len(fake.calls_for(prompt)) == 2
    assert seen[-1] == result.text


def test_a_stream_that_keeps_breaking_fails_within_the_time_left(fake):
    prompt = f"[broken-stream] {time.monotonic_ns()}"
    started = time.monotonic()
    with pytest.raises(openrouter.GenerationFailed, match="AI service temporarily unavailable"):
        openrouter.stream(prompt, "Blog Post Outline", started + 5)
    assert time.monotonic() - started < 5
    assert 1 < len(fake.calls_for(prompt)) <= openrouter.MAX_ATTEMPTS


def test_a_raising_callback_stops_the_call_without_a_retry(fake):
    class Stop(Exception):
        pass

    def stop(text):
        raise Stop()

    prompt = f"[trickle] stopped {time.monotonic_ns()}"
    started = time.monotonic()
    with pytest.raises(Stop):
        openrouter.stream(prompt, "Blog Post Outline", started + 30, on_text=stop)
    assert time.monotonic() - started < 1
    assert len(fake.calls_for(prompt)) == 1


def test_a_call_slower_than_the_time_left_fails_as_timed_out(fake):
    started = time.monotonic()
    with pytest.raises(openrouter.GenerationFailed, match="OpenRouter request timed out"):
        openrouter.stream("[slow] bounded", "Blog Post Outline", started + 4)
    assert time.monotonic() - started < 4


def test_no_retry_is_started_that_cannot_finish_in_time(fake):
    prompt = f"[rate-limited-once] no time {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed, match="rate limit exceeded"):
        openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 2.5)
    assert len(fake.calls_for(prompt)) == 1


def configure(monkeypatch, **overrides):
    monkeypatch.setattr(settings, "get", lambda: settings.from_env({**os.environ, **overrides}))


def test_a_rejected_key_fails_at_once(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_API_KEY="wrong-key")
    prompt = f"bad key {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed, match="OpenRouter API key is invalid"):
        openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30)
    assert len(fake.calls_for(prompt)) == 1


def test_without_a_key_another_compatible_server_is_still_called(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_API_KEY="")
    prompt = f"keyless {time.monotonic_ns()}"
    with pytest.raises(openrouter.GenerationFailed, match="OpenRouter API key is invalid"):
        openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30)
    assert fake.calls_for(prompt)[0]["authorization"] is None


def test_without_a_key_for_openrouter_the_offline_provider_says_so(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_API_KEY="", OPENROUTER_BASE_URL="")
    text = openrouter.stream("offline prompt", "Social Media Caption", time.monotonic() + 30).text
    assert "OFFLINE" in text and "offline prompt" in text
    assert fake.calls_for("offline prompt") == []


def test_openrouter_models_are_sent_as_the_fallback_list(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_MODELS="vendor/primary, vendor/backup")
    result = openrouter.stream("[primary-down] fallback", "Blog Post Outline",
                               time.monotonic() + 30)
    request = fake.calls_for("[primary-down] fallback")[0]["request"]
    assert (request["model"], request["models"]) == ("vendor/primary",
                                                     ["vendor/primary", "vendor/backup"])
    assert result.model == "vendor/backup"


def test_openrouter_model_still_names_the_one_model(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_MODEL="vendor/only")
    assert openrouter.stream("one model", "Blog Post Outline",
                             time.monotonic() + 30).model == "vendor/only"
    assert "models" not in fake.calls_for("one model")[0]["request"]


@pytest.mark.parametrize("value", [",", "vendor/a,,vendor/b", "vendor/a, "])
def test_an_empty_entry_in_openrouter_models_stops_start_up(value):
    with pytest.raises(settings.SettingsError, match="OPENROUTER_MODELS must be model names"):
        settings.from_env({**os.environ, "OPENROUTER_MODELS": value})
