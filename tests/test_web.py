"""The web client in a real browser (Debian's Chromium driven by Playwright)
against the whole local stack: what a person does, step by step."""
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 20_000
WEB = Path(__file__).resolve().parent.parent / "web"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium "
                    "when it runs as root with apt-get)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update"])
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser, stack):
    contexts = []

    def open_page():
        context = browser.new_context(base_url=stack.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        return page

    yield open_page
    for context in contexts:
        context.close()


def register(page, name="Ada Lovelace"):
    email = f"web-{time.monotonic_ns()}@example.com"
    form = page.locator("#register-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill("password123")
    form.get_by_role("button", name="Register").click()
    page.locator("#who").filter(has_text=name).wait_for()
    return email


def add_item(page, title, body, kind="Blog Post Outline"):
    form = page.locator("#create-form")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Type").select_option(kind)
    form.get_by_label("Body (Markdown)").fill(body)
    form.get_by_role("button", name="Add to library").click()
    page.locator("#library .item", has_text=title).wait_for()


def generate(page, prompt):
    form = page.locator("#generate-form")
    form.get_by_label("What should it be about?").fill(prompt)
    form.get_by_label("Content type").select_option("Product Description")
    form.get_by_role("button", name="Generate").click()
    return page.locator("#jobs .job", has_text=prompt)


def test_a_person_registers_and_manages_the_library(new_page):
    page = new_page()
    register(page)
    add_item(page, "Summer campaign", "# Sunny\n\n- beaches")
    add_item(page, "Winter notes", "Snow **everywhere**")
    assert page.locator("#library .item h3").all_inner_texts() == ["Winter notes",
                                                                   "Summer campaign"]
    assert page.locator("#library .item", has_text="Winter notes").locator("strong") \
        .inner_text() == "everywhere"

    page.get_by_label("Search the library").fill("sunny")
    page.wait_for_function("document.querySelectorAll('#library .item').length === 1")
    assert page.locator("#library .item h3").all_inner_texts() == ["Summer campaign"]

    item = page.locator("#library .item", has_text="Summer campaign")
    item.get_by_role("button", name="Edit").click()
    page.locator("#library form.item").get_by_label("Title").fill("Summer campaign v2")
    page.get_by_role("button", name="Save changes").click()
    page.locator("#library .item h3", has_text="Summer campaign v2").wait_for()

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#library .item", has_text="Summer campaign v2") \
        .get_by_role("button", name="Delete").click()
    page.locator("#library .item", has_text="Summer campaign v2").wait_for(state="detached")


def test_contract_errors_are_shown_to_the_person(new_page):
    page = new_page()
    form = page.locator("#login-form")
    form.get_by_label("Email").fill("nobody@example.com")
    form.get_by_label("Password").fill("wrong")
    form.get_by_role("button", name="Log in").click()
    error = form.locator(".error")
    error.filter(has_text="Invalid credentials").wait_for()
    assert error.inner_text() == "Invalid credentials"


def test_a_generation_counts_down_arrives_over_the_socket_and_is_saved(new_page):
    page = new_page()
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    job = generate(page, "Reusable water bottle")
    job.locator(".status", has_text=re.compile(r"Starting in \d+ s")).wait_for()
    job.locator(".status.completed").wait_for()
    assert "Content about: Reusable water bottle" in job.locator(".markdown").inner_text()
    job.get_by_label("Title (optional)").fill("Bottle copy")
    job.get_by_role("button", name="Save to library").click()
    job.get_by_text("Saved to your library.").wait_for()
    saved = page.locator("#library .item", has_text="Bottle copy")
    saved.wait_for()
    assert saved.locator(".badge").inner_text() == "Product Description"
    page.reload()
    page.locator("#jobs .job", has_text="Reusable water bottle").locator(
        ".status.completed").wait_for()


def test_another_person_sees_none_of_it(new_page):
    owner = new_page()
    register(owner, "Owner")
    add_item(owner, "Private notes", "mine")
    job = generate(owner, "Owner only prompt")
    stranger = new_page()
    register(stranger, "Stranger")
    stranger.locator("#socket-state", has_text="live").wait_for()
    job.locator(".status.completed").wait_for()
    stranger.wait_for_timeout(500)
    assert stranger.locator("#jobs .job").count() == 0
    assert stranger.locator("#library .item").count() == 0


def test_without_the_socket_the_result_arrives_by_polling(browser, stack):
    context = browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/socket.io/**", lambda route: route.abort())
    try:
        page = context.new_page()
        page.goto("/")
        register(page)
        page.locator("#socket-state", has_text="polling").wait_for()
        job = generate(page, "Polled prompt")
        job.locator(".status.completed").wait_for()
        assert "Content about: Polled prompt" in job.locator(".markdown").inner_text()
    finally:
        context.close()


def test_markup_in_a_body_renders_inert(new_page):
    page = new_page()
    register(page)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    add_item(page, "Hostile", '<img src="x" onerror="window.pwned=1;alert(1)">'
                              '<script>window.pwned=2</script>\n\n[link](javascript:alert(3))')
    page.wait_for_timeout(500)
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    body = page.locator("#library .item", has_text="Hostile").locator(".markdown")
    assert body.locator("script").count() == 0
    assert body.locator("[onerror]").count() == 0
    assert "javascript:" not in body.inner_html()


def test_a_401_returns_the_person_to_the_login_page(new_page):
    page = new_page()
    register(page)
    page.evaluate("localStorage.setItem('access_token', 'not-a-valid-token')")
    page.reload()
    page.locator("#login-form").wait_for()
    assert page.evaluate("localStorage.getItem('access_token')") is None


def test_logout_clears_the_token_and_closes_the_socket(new_page):
    page = new_page()
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    page.get_by_role("button", name="Log out").click()
    page.locator("#login-form").wait_for()
    assert page.evaluate("localStorage.getItem('access_token')") is None


def test_the_generation_form_shows_what_is_left_and_a_429_in_place(new_page):
    from bson import ObjectId

    from chalicelib import db, limits
    page = new_page()
    email = register(page)
    usage = page.locator("#usage")
    usage.filter(has_text="Left: 5 of 5 at once · 100 of 100 in 24 h").wait_for()
    user_id = db.get().users.find_one({"email": email})["_id"]
    for _ in range(5):
        limits.take_generation_slot(ObjectId(user_id), str(ObjectId()))
    generate(page, "One too many")
    page.locator("#generate-form .error").filter(
        has_text="Active generation limit reached: 5 jobs queued or processing").wait_for()
    usage.filter(has_text="Left: 0 of 5 at once · 95 of 100 in 24 h").wait_for()
    assert page.locator("#jobs .job", has_text="One too many").count() == 0


def test_the_docs_page_renders_the_api_description_offline(browser, stack):
    context = browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    outside = []
    context.route(re.compile(r"^(?!" + re.escape(stack.url) + ")"),
                  lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/docs")
    page.get_by_role("heading", name=re.compile("AI Content Generator API")).first.wait_for()
    page.get_by_role("heading", name="Queue AI content generation").first.wait_for()
    context.close()
    assert (outside, errors) == ([], [])


def test_every_module_of_the_client_is_served_as_javascript(stack):
    import requests
    modules = sorted(WEB.glob("*.js"))
    served = {module.name: requests.get(f"{stack.url}/{module.name}", timeout=5)
              for module in modules}
    assert {name: (response.status_code, response.headers["Content-Type"])
            for name, response in served.items()} == {
        module.name: (200, "text/javascript") for module in modules}


def test_the_type_selects_fill_when_the_api_description_arrives(browser, stack):
    import requests
    listed = requests.get(f"{stack.url}/openapi.json", timeout=5).json()[
        "components"]["schemas"]["ContentType"]["enum"]
    context = browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    held = []
    context.route("**/openapi.json", lambda route: held.append(route))
    try:
        page = context.new_page()
        page.goto("/")
        register(page)
        selects = page.locator("select.content-types")
        assert selects.locator("option").count() == 0
        while not held:
            page.wait_for_timeout(50)
        held[0].continue_()
        page.wait_for_function("[...document.querySelectorAll('select.content-types')]"
                               ".every((select) => select.options.length > 0)")
        assert [select.locator("option").all_inner_texts()
                for select in selects.all()] == [listed, listed]
    finally:
        context.close()


def test_the_text_appears_as_it_is_written_and_cancel_stops_it(new_page):
    page = new_page()
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    job = generate(page, "[long] A long story")
    job.locator(".markdown.streaming", has_text="word word").wait_for()
    job.get_by_role("button", name="Cancel").click()
    job.locator(".status.failed").wait_for()
    assert job.locator(".error").inner_text() == "Generation failed: Cancelled by the user"
    assert job.get_by_role("button", name="Cancel").count() == 0


def test_a_queued_job_is_cancelled_before_it_starts(new_page):
    page = new_page()
    register(page)
    job = generate(page, "Changed my mind")
    job.locator(".status", has_text=re.compile(r"Starting in \d+ s")).wait_for()
    job.get_by_role("button", name="Cancel").click()
    job.locator(".status.failed").wait_for()
    assert job.locator(".error").inner_text() == "Generation failed: Cancelled by the user"


def test_tokens_and_cost_show_per_job_and_for_the_month(new_page):
    page = new_page()
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    job = generate(page, "Priced prompt")
    job.locator(".status.completed").wait_for()
    spend = job.locator(".spend")
    spend.wait_for()
    assert re.fullmatch(r"\d+ tokens · \$0\.\d{6} · openai/gpt-4o-mini", spend.inner_text())
    page.locator("#month-usage", has_text="This month: 1 generations").wait_for()
    assert re.search(r"\d+ tokens · \$0\.\d{6}$", page.locator("#month-usage").inner_text())


class Outage:
    """Cuts the page off from the notifier (its websocket and its polling
    transport) and from job status polling; the socket can come back alone."""

    def __init__(self, context):
        self.socket_down = self.status_down = False
        self.sockets = []
        context.route("**/socket.io/**", lambda route: self._pass(route, self.socket_down))
        context.route(re.compile(r".*/generate-content/[^/]+$"),
                      lambda route: self._pass(route, self.status_down))
        context.route_web_socket(re.compile(r".*/socket\.io/.*"), self._socket)

    @staticmethod
    def _pass(route, down):
        route.abort() if down else route.continue_()

    def _socket(self, page_side):
        if self.socket_down:
            page_side.close()
            return
        self.sockets.append((page_side, page_side.connect_to_server()))

    def start(self):
        self.socket_down = self.status_down = True
        for page_side, server_side in self.sockets:
            page_side.close()
            server_side.close()
        self.sockets = []

    def restore_the_socket(self):
        self.socket_down = False


def test_a_result_finished_while_away_arrives_once_on_reconnect(browser, stack):
    context = browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    outage = Outage(context)
    try:
        page = context.new_page()
        page.goto("/")
        register(page)
        page.locator("#socket-state", has_text="live").wait_for()
        job = generate(page, "[trickle] Lid closed")
        job.locator(".status", has_text=re.compile(r"Starting in \d+ s")).wait_for()
        outage.start()
        page.locator("#socket-state", has_text="polling").wait_for()
        token = page.evaluate("localStorage.getItem('access_token')")
        wait_for_job_finished(stack.url, token, job.get_attribute("data-job"))
        # Polling stays cut off: only the socket's catch-up can bring the result.
        outage.restore_the_socket()
        job.locator(".status.completed").wait_for()
        page.locator("#socket-state", has_text="live").wait_for()
        page.wait_for_timeout(500)
        assert page.locator("#jobs .job", has_text="Lid closed").count() == 1
        assert job.locator(".markdown").count() == 1
        assert "Content about: [trickle] Lid closed" in job.locator(".markdown").inner_text()
    finally:
        context.close()


def wait_for_job_finished(url, token, job_id, timeout=20):
    import requests
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{url}/generate-content/{job_id}", timeout=5,
                           headers={"Authorization": f"Bearer {token}"}).json()
        if job["status"] not in ("queued", "processing"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")
