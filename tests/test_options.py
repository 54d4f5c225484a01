"""Generation options (an addition): each shapes the exact prompt the AI
receives, is validated with its own 400, and is shown on the job; user text
reaches only the user message, as JSON data; variants are each paid and
each counted."""
import json

import pytest

from chalicelib.contract import CONTENT_TYPES
from tests.support.fake_openrouter import COST
from tests.support.jobs import unique, wait_until_finished
from tests.support.prompts import DATA_RULE, INJECTION


def submit(api, user, prompt, content_type="Blog Post Outline", **chosen):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": prompt, "contentType": content_type,
                              "options": chosen})
    assert response.status_code == 202, response.text
    return response.json()


def messages_for(openrouter, marker):
    calls = [call for call in openrouter.calls if marker in call["prompt"]]
    assert calls, f"no AI call for {marker}"
    return [call["request"]["messages"] for call in calls]


def finished(api, user, prompt, content_type="Blog Post Outline", **chosen):
    return wait_until_finished(api, user, submit(api, user, prompt, content_type,
                                                 **chosen)["jobId"])


def user_data(messages):
    return json.loads(messages[1]["content"])


def test_named_options_shape_the_exact_prompt(api, user, openrouter):
    prompt = unique("Remote work")
    finished(api, user, prompt, tone="Friendly", length="short", language="French",
             audience="small-team founders", keywords=["async", "trust"])
    [messages] = messages_for(openrouter, prompt)
    assert messages == [
        {"role": "system", "content": "\n\n".join([
            CONTENT_TYPES["Blog Post Outline"].prompt, DATA_RULE,
            "Write in a friendly tone.", "Aim for about 150 words.",
            "Write in the language named by `language`.",
            "Write for the readers that `audience` describes.",
            "Use each of the `keywords` naturally."])},
        {"role": "user", "content": json.dumps(
            {"request": prompt, "language": "French", "audience": "small-team founders",
             "keywords": ["async", "trust"]}, ensure_ascii=False, indent=2)}]


def test_options_are_stored_and_shown_in_the_status_and_the_list(api, user):
    chosen = {"tone": "formal", "length": "long", "keywords": ["a", "b"], "variants": 1}
    queued = submit(api, user, unique("Shown"), **chosen)
    status = api.get(f"/generate-content/{queued['jobId']}", token=user["token"]).json()
    assert status["options"] == chosen
    listed = api.get("/generate-content", token=user["token"]).json()[0]
    assert (listed["jobId"], listed["options"]) == (queued["jobId"], chosen)


def test_a_free_text_tone_goes_to_the_user_message_only(api, user, openrouter):
    prompt = unique("Coffee")
    finished(api, user, prompt, tone="like a 1920s radio announcer")
    [messages] = messages_for(openrouter, prompt)
    assert messages[0]["content"] == "\n\n".join([
        CONTENT_TYPES["Blog Post Outline"].prompt, DATA_RULE,
        "Write in the tone that `tone` describes."])
    assert user_data(messages) == {"request": prompt, "tone": "like a 1920s radio announcer"}


def test_product_fields_shape_the_prompt(api, user, openrouter):
    prompt = unique("Bottle")
    finished(api, user, prompt, "Product Description", productName="Aqua 2",
             features=["keeps cold 24h", "recycled steel"], length="medium")
    [messages] = messages_for(openrouter, prompt)
    assert messages[0]["content"] == "\n\n".join([
        CONTENT_TYPES["Product Description"].prompt, DATA_RULE, "Aim for about 120 words.",
        "The product is the one `product` names; cover each of its features."])
    assert user_data(messages) == {"request": prompt, "product": {
        "name": "Aqua 2", "features": ["keeps cold 24h", "recycled steel"]}}


def test_a_caption_over_its_platforms_limit_is_cut_at_a_word_and_says_so(api, user,
                                                                           openrouter):
    # The fake echoes the user message, here far longer than X's 280 characters.
    prompt = unique("Launch day " + "with many words to say " * 20)
    job = finished(api, user, prompt, "Social Media Caption", platform="x")
    [messages] = messages_for(openrouter, prompt)
    assert messages[0]["content"].endswith(
        "The caption is for X: at most 280 characters, hashtags and emojis included.")
    echoed = f"# Generated\n\nContent about: {messages[1]['content']}"
    assert len(echoed) > 280
    assert len(job["generatedContent"]) <= 280
    assert echoed.startswith(job["generatedContent"])
    assert echoed[len(job["generatedContent"])].isspace()
    assert job["notice"] == "Trimmed at a word boundary to fit X's 280-character limit"


def test_a_caption_within_its_limit_is_untouched(api, user):
    job = finished(api, user, unique("Short"), "Social Media Caption", platform="linkedin")
    assert "notice" not in job
    assert job["generatedContent"].startswith("# Generated")


@pytest.mark.parametrize("chosen, message", [
    ({"mood": "happy"}, "Unknown option; the options are: tone, length, language, audience, "
                        "keywords, variants, voiceId, productName, features, platform"),
    ({"tone": "t" * 61}, "tone must be at most 60 characters"),
    ({"audience": "a" * 201}, "audience must be at most 200 characters"),
    ({"language": {"$gt": ""}}, "language must be a string"),
    ({"length": "epic"}, "length must be one of: short, medium, long"),
    ({"keywords": [f"k{n}" for n in range(11)]}, "keywords must have at most 10 items"),
    ({"keywords": "seo"}, "keywords must be a list of strings"),
    ({"keywords": ["k" * 41]}, "each of keywords must be at most 40 characters"),
    ({"variants": 4}, "variants must be a whole number from 1 to 3"),
    ({"variants": 0}, "variants must be a whole number from 1 to 3"),
    ({"variants": True}, "variants must be a whole number from 1 to 3"),
    ({"variants": "2"}, "variants must be a whole number from 1 to 3"),
    ({"platform": "x"}, "platform is only for Social Media Caption"),
    ({"productName": "Aqua"}, "productName is only for Product Description"),
])
def test_a_bad_option_is_400_with_its_message_and_queues_nothing(api, user, chosen, message):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "x", "contentType": "Blog Post Outline",
                              "options": chosen})
    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert api.get("/generate-content", token=user["token"]).json() == []


def test_an_unknown_platform_is_400(api, user):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "x", "contentType": "Social Media Caption",
                              "options": {"platform": "myspace"}})
    assert response.status_code == 400
    assert response.json() == {"message": "platform must be one of: x, threads, instagram, "
                                          "tiktok, linkedin, facebook"}


def test_options_that_are_not_an_object_are_400(api, user):
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "x", "contentType": "Blog Post Outline",
                              "options": ["tone"]})
    assert response.status_code == 400
    assert response.json() == {"message": "options must be an object"}


def test_an_injection_in_every_free_text_option_stays_data_in_the_user_message(
        api, user, openrouter):
    voice = api.post("/voices", token=user["token"], json={
        "name": INJECTION, "description": INJECTION, "samples": [INJECTION]}).json()
    prompt = unique(f"Caption. {INJECTION}")
    finished(api, user, prompt, "Product Description", tone=INJECTION, language=INJECTION,
             audience=INJECTION, keywords=[INJECTION], productName=INJECTION,
             features=[INJECTION], voiceId=voice["_id"])
    [messages] = messages_for(openrouter, prompt)
    system = messages[0]["content"]
    assert system == "\n\n".join([
        CONTENT_TYPES["Product Description"].prompt, DATA_RULE,
        "Write in the tone that `tone` describes.",
        "Write in the language named by `language`.",
        "Write for the readers that `audience` describes.",
        "Use each of the `keywords` naturally.",
        "The product is the one `product` names; cover each of its features.",
        "Write in the brand voice that `voice` describes; its `samples` show how it "
        "sounds: match their style, never copy them."])
    assert "PWNED" not in system
    assert [message["role"] for message in messages] == ["system", "user"]
    assert user_data(messages) == {
        "request": prompt, "tone": INJECTION, "language": INJECTION, "audience": INJECTION,
        "keywords": [INJECTION],
        "product": {"name": INJECTION, "features": [INJECTION]},
        "voice": {"name": INJECTION, "description": INJECTION, "samples": [INJECTION]}}


def test_a_voice_shapes_the_prompt_with_a_snapshot_of_it(api, user, openrouter):
    voice = api.post("/voices", token=user["token"], json={
        "name": "Calm", "description": "Short sentences.", "samples": ["Breathe."]}).json()
    prompt = unique("Yoga mats")
    queued = submit(api, user, prompt, voiceId=voice["_id"])
    api.put(f"/voices/{voice['_id']}", token=user["token"], json={"name": "Changed"})
    wait_until_finished(api, user, queued["jobId"])
    [messages] = messages_for(openrouter, prompt)
    assert user_data(messages)["voice"] == {"name": "Calm", "description": "Short sentences.",
                                            "samples": ["Breathe."]}


def test_another_users_voice_is_404_and_queues_nothing(api, user, other_user):
    voice = api.post("/voices", token=other_user["token"], json={"name": "Theirs"}).json()
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "x", "contentType": "Blog Post Outline",
                              "options": {"voiceId": voice["_id"]}})
    assert response.status_code == 404
    assert response.json() == {"message": "Voice not found"}
    assert api.get("/generate-content", token=user["token"]).json() == []


def test_three_variants_are_three_paid_calls_shown_side_by_side(api, user, openrouter):
    prompt = unique("Three ways")
    job = finished(api, user, prompt, variants=3)
    assert len(messages_for(openrouter, prompt)) == 3
    assert job["status"] == "completed"
    assert len(job["variants"]) == 3
    assert job["generatedContent"] == job["variants"][0]
    assert job["usage"]["cost"] == pytest.approx(3 * COST)
    single = finished(api, user, unique("One way"))
    assert job["usage"]["totalTokens"] > 2 * single["usage"]["totalTokens"]


def test_a_job_of_three_variants_takes_three_of_the_active_slots(api, user):
    submit(api, user, unique("[one-second] Slots"), variants=3)
    assert api.get("/usage", token=user["token"]).json()["activeJobs"] == 3
    response = api.post("/generate-content", token=user["token"],
                        json={"prompt": "x", "contentType": "Blog Post Outline",
                              "options": {"variants": 3}})
    assert response.status_code == 429
    assert response.json() == {"message": "Active generation limit reached: 5 jobs queued or "
                                          "processing; a slot frees when one of them finishes"}
    submit(api, user, unique("Two more fit"), variants=2)


def test_the_months_cost_counts_every_variant(api, user):
    finished(api, user, unique("Costed"), variants=2)
    month = api.get("/usage", token=user["token"]).json()["month"]
    assert (month["jobs"], month["cost"]) == (1, pytest.approx(2 * COST))


def test_save_can_take_a_chosen_variant(api, user):
    job = finished(api, user, unique("Pick one"), variants=2)
    response = api.post(f"/generate-content/{job['jobId']}/save", token=user["token"],
                        json={"title": "Second", "variant": 2})
    assert response.status_code == 201
    assert response.json()["content"]["body"] == job["variants"][1]


def test_save_of_a_variant_the_job_has_not_is_400(api, user):
    job = finished(api, user, unique("Only two"), variants=2)
    response = api.post(f"/generate-content/{job['jobId']}/save", token=user["token"],
                        json={"variant": 3})
    assert response.status_code == 400
    assert response.json() == {"message": "variant must be a whole number from 1 to 2"}
