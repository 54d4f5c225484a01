"""The OpenRouter client against the loopback fake: bounded in time, honest
about failures."""
import os
import time

import pytest

from chalicelib import contract, openrouter, settings
from tests.support.fake_openrouter import COST, ENDLESS_WORD


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


def test_a_server_other_than_openrouter_is_asked_for_usage_in_stream_options(fake):
    openrouter.stream("Usage the OpenAI way", "Blog Post Outline", time.monotonic() + 30)
    request = fake.calls_for("Usage the OpenAI way")[0]["request"]
    assert request["stream_options"] == {"include_usage": True}


def test_the_text_arrives_as_it_grows_past_keep_alives(fake):
    seen = []
    result = openrouter.stream("[trickle] growing", "Blog Post Outline", time.monotonic() + 30,
                               on_text=seen.append)
    assert result.text == "# Generated\n\nContent about: [trickle] growing"
    assert len(seen) > 2
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:]))
    assert seen[-1] == result.text


@pytest.mark.parametrize("framing", ["chunked", "close-delimited", "http/1.0"])
def test_the_text_arrives_while_the_stream_is_still_open(fake, framing):
    prompt = f"[held] [{framing}] open stream {time.monotonic_ns()}"
    result = openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30,
                               on_text=lambda text: fake.release(prompt))
    assert result.text == f"# Generated\n\nContent about: {prompt}"
    assert fake.calls_for(prompt)[0]["released"] is True


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


class Stop(Exception):
    pass


def stop_at(ask):
    """A before_call that lets the first ask - 1 attempts go and stops at
    the ask-th; `asks` counts them."""
    def before_call():
        before_call.asks += 1
        if before_call.asks == ask:
            raise Stop()
    before_call.asks = 0
    return before_call


def test_before_every_attempt_the_caller_is_asked(fake):
    prompt = f"[rate-limited-once] asked {time.monotonic_ns()}"
    before_call = stop_at(ask=0)
    openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30,
                      before_call=before_call)
    assert (before_call.asks, len(fake.calls_for(prompt))) == (2, 2)


def test_a_caller_that_stops_before_the_first_attempt_makes_no_call(fake):
    prompt = f"never called {time.monotonic_ns()}"
    with pytest.raises(Stop):
        openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30,
                          before_call=stop_at(ask=1))
    assert fake.calls_for(prompt) == []


def test_a_caller_that_stops_during_the_backoff_makes_no_retry(fake):
    prompt = f"[rate-limited-once] stopped while waiting {time.monotonic_ns()}"
    with pytest.raises(Stop):
        openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30,
                          before_call=stop_at(ask=2))
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


def estimate(characters):
    return -(-characters // openrouter.CHARACTERS_PER_TOKEN)


def test_a_server_reporting_no_usage_gets_its_tokens_estimated_and_marked(fake):
    prompt = f"[no-usage] estimate me {time.monotonic_ns()}"
    result = openrouter.stream(prompt, "Social Media Caption", time.monotonic() + 30)
    instructions = contract.CONTENT_TYPES["Social Media Caption"].prompt
    prompt_tokens = estimate(len(instructions) + len(prompt))
    completion_tokens = estimate(len(result.text))
    assert result.usage == {"promptTokens": prompt_tokens, "completionTokens": completion_tokens,
                            "estimated": True, "totalTokens": prompt_tokens + completion_tokens,
                            "cost": 0.0}


def test_estimated_tokens_are_priced_at_the_configured_price(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_PRICE_PER_MILLION_TOKENS="2.5")
    prompt = f"[no-usage] priced {time.monotonic_ns()}"
    usage = openrouter.stream(prompt, "Social Media Caption", time.monotonic() + 30).usage
    assert usage["cost"] == round(usage["totalTokens"] * 2.5 / 1_000_000, 8)


def test_reported_usage_is_not_marked_estimated(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_PRICE_PER_MILLION_TOKENS="2.5")
    usage = openrouter.stream("Reported usage", "Blog Post Outline", time.monotonic() + 30).usage
    assert "estimated" not in usage
    assert usage["cost"] == COST


def test_a_text_cut_at_the_token_limit_says_so(fake):
    result = openrouter.stream("[cut] too long", "Blog Post Outline", time.monotonic() + 30)
    assert result.text == "# Generated\n\nContent about: [cut] too long"
    assert (result.finish_reason, result.spend()["finishReason"]) == ("length", "length")


def test_a_text_past_the_most_a_job_keeps_is_cut_there_and_its_stream_closed(fake):
    prompt = f"[endless] ignores max_tokens {time.monotonic_ns()}"
    seen = []
    result = openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30,
                               on_text=seen.append)
    written = " ".join([ENDLESS_WORD] * 100)
    assert result.text == written[:openrouter.MAX_TEXT_CHARACTERS]
    assert (result.finish_reason, result.spend()["finishReason"]) == ("length", "length")
    assert seen[-1] == result.text
    assert all(len(text) <= openrouter.MAX_TEXT_CHARACTERS for text in seen)
    assert fake.aborted(prompt)


def test_a_text_that_ended_by_itself_keeps_no_finish_reason(fake):
    result = openrouter.stream("Ends by itself", "Blog Post Outline", time.monotonic() + 30)
    assert result.finish_reason == "stop"
    assert "finishReason" not in result.spend()


def test_reasoning_deltas_are_left_out_of_the_text(fake):
    result = openrouter.stream("[reasoning] think", "Blog Post Outline", time.monotonic() + 30)
    assert result.text == "# Generated\n\nContent about: [reasoning] think"


def test_a_stream_closed_after_its_finish_reason_without_done_is_complete(fake):
    prompt = f"[no-done] {time.monotonic_ns()}"
    result = openrouter.stream(prompt, "Blog Post Outline", time.monotonic() + 30)
    assert result.text == f"# Generated\n\nContent about: {prompt}"
    assert len(fake.calls_for(prompt)) == 1


def test_the_instructions_can_open_the_user_message_instead(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_INSTRUCTIONS_ROLE="user")
    instructions = contract.CONTENT_TYPES["Product Description"].prompt
    openrouter.stream("Bottle for a template without system", "Product Description",
                      time.monotonic() + 30)
    call = fake.calls_for(f"{instructions}\n\nBottle for a template without system")[0]
    assert call["request"]["messages"] == [
        {"role": "user",
         "content": f"{instructions}\n\nBottle for a template without system"}]


def test_an_unknown_instructions_role_stops_start_up():
    with pytest.raises(settings.SettingsError,
                       match="OPENROUTER_INSTRUCTIONS_ROLE must be one of system, user, "
                             "got 'assistant'"):
        settings.from_env({**os.environ, "OPENROUTER_INSTRUCTIONS_ROLE": "assistant"})


def test_the_longest_text_asked_for_is_a_setting(fake, monkeypatch):
    configure(monkeypatch, OPENROUTER_MAX_TOKENS="300")
    openrouter.stream("Shorter please", "Blog Post Outline", time.monotonic() + 30)
    assert fake.calls_for("Shorter please")[0]["request"]["max_tokens"] == 300
