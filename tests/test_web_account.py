"""The web client's account pages in a real browser: a forgotten password
through the local mailbox, a new password, logging out everywhere, the data
download, and deleting the account."""
import json

from tests.support.web import add_item, register


def log_in(page, email, password):
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()


def test_a_person_resets_a_forgotten_password_through_the_local_mailbox(new_page):
    page = new_page()
    email = register(page)
    page.get_by_role("button", name="Log out", exact=True).click()
    forgot = page.locator("#forgot-form")
    forgot.get_by_label("Email").fill(email)
    forgot.get_by_role("button", name="Send reset link").click()
    forgot.get_by_text("If that email is registered").wait_for()
    page.goto("/_mail")
    page.locator("article", has_text=email).first.get_by_role("link").click()
    reset = page.locator("#reset-form")
    reset.get_by_label("New password").fill("a-whole-new-one")
    reset.get_by_role("button", name="Set new password").click()
    page.get_by_text("Your password has been reset").wait_for()
    log_in(page, email, "a-whole-new-one")
    page.locator("#who").filter(has_text="Ada Lovelace").wait_for()


def test_a_person_deletes_the_account_after_reading_what_goes(new_page):
    page = new_page()
    email = register(page)
    add_item(page, "Soon gone", "text")
    page.get_by_role("button", name="Account").click()
    page.locator("#delete-what").filter(
        has_text="the 1 item of your library and your 0 generation jobs").wait_for()
    delete = page.locator("#delete-form")
    delete.get_by_label("Password").fill("password123")
    delete.get_by_role("button", name="Delete my account").click()
    page.get_by_text("Your account and everything in it have been deleted").wait_for()
    log_in(page, email, "password123")
    page.locator("#login-form .error").filter(has_text="Invalid credentials").wait_for()


def test_a_person_changes_the_password(new_page):
    page = new_page()
    email = register(page)
    page.get_by_role("button", name="Account").click()
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill("password123")
    form.get_by_label("New password").fill("changed-password")
    form.get_by_role("button", name="Change password").click()
    form.get_by_text("Password changed").wait_for()
    page.get_by_role("button", name="Log out", exact=True).click()
    log_in(page, email, "changed-password")
    page.locator("#who").filter(has_text="Ada Lovelace").wait_for()


def test_logging_out_everywhere_ends_the_other_tabs_session(new_page):
    first = new_page()
    email = register(first)
    second = new_page()
    log_in(second, email, "password123")
    second.locator("#who").filter(has_text="Ada Lovelace").wait_for()
    first.get_by_role("button", name="Log out everywhere").click()
    first.get_by_text("logged out on every device").wait_for()
    second.locator("#search").fill("anything")
    second.get_by_text("Your session has ended").wait_for()


def test_a_person_downloads_their_data(new_page):
    page = new_page()
    email = register(page)
    add_item(page, "Mine to take", "text")
    page.get_by_role("button", name="Account").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    data = json.loads(open(download.value.path()).read())
    assert data["profile"]["email"] == email
    assert [item["title"] for item in data["contents"]] == ["Mine to take"]
