"""What a person does in the web client, step by step, for the browser tests
(the `browser` and `new_page` fixtures are in tests/conftest.py)."""
import shutil
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 20_000


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
