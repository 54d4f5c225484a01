"""Adding a content type is one edit: a stack whose contract module names
one type more accepts it, prompts the AI with its prompt, describes it in
/openapi.json and offers it in the web client."""
import pytest

from devstack.services import StackProcess
from tests.stack_with_extra_type import HAIKU
from tests.support.client import Client
from tests.support.jobs import submit, unique, wait_until_finished
from tests.support.web import TIMEOUT_MS, register


@pytest.fixture(scope="module")
def extended(stack_env, tmp_path_factory):
    # Queues of its own, so the suite's other stacks never take its jobs.
    env = {**stack_env, "STACK_PARAMETERS": "JobsQueueName=haiku-jobs "
                                            "DeadLetterQueueName=haiku-dlq"}
    running = StackProcess(env, tmp_path_factory.mktemp("haiku") / "stack.log",
                           module="tests.stack_with_extra_type").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def extended_api(extended):
    return Client(extended.url)


@pytest.fixture
def haiku_user(extended_api):
    return extended_api.register()


def test_an_added_type_is_accepted_by_post_content(extended_api, haiku_user):
    response = extended_api.post("/content", token=haiku_user["token"], json={
        "title": "Autumn", "type": HAIKU.name, "body": "Leaves fall"})
    assert response.status_code == 201
    assert response.json()["type"] == HAIKU.name


def test_an_added_type_is_generated_with_its_own_prompt(extended_api, haiku_user, openrouter):
    prompt = unique("The sea at dawn")
    queued = submit(extended_api, haiku_user, prompt, content_type=HAIKU.name)
    job = wait_until_finished(extended_api, haiku_user, queued["jobId"])
    assert (job["status"], job["contentType"]) == ("completed", HAIKU.name)
    [call] = openrouter.calls_for(prompt)
    assert call["request"]["messages"][0] == {"role": "system", "content": HAIKU.prompt}


def test_an_added_type_is_listed_in_the_openapi_document(extended_api):
    response = extended_api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["components"]["schemas"]["ContentType"]["enum"] == [
        "Blog Post Outline", "Product Description", "Social Media Caption", HAIKU.name]


def test_an_added_type_is_named_when_a_job_has_an_unknown_type(extended_api, haiku_user):
    response = extended_api.post("/generate-content", token=haiku_user["token"],
                                 json={"prompt": "Anything", "contentType": "Limerick"})
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid content type. Must be one of: Blog Post "
                                          "Outline, Product Description, Social Media "
                                          f"Caption, {HAIKU.name}"}


def test_an_added_type_is_offered_in_the_web_clients_selects(browser, extended):
    context = browser.new_context(base_url=extended.url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/")
        register(page)
        # A function, not an expression: the page's CSP forbids the eval an
        # expression would need.
        page.wait_for_function("() => [...document.querySelectorAll('select.content-types')]"
                               ".every((select) => select.options.length > 0)")
        selects = page.locator("select.content-types")
        assert [select.locator("option").all_inner_texts() for select in selects.all()] == [
            ["Blog Post Outline", "Product Description", "Social Media Caption", HAIKU.name]
        ] * 2
    finally:
        context.close()
