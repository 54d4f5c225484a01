"""A user's own account: a new password, deleting the account, and taking
out everything stored about it."""
import time

import pytest
from bson import ObjectId

from chalicelib import db, jobs
from chalicelib.errors import ApiError
from tests.support.database import documents_of
from tests.support.jobs import submit, unique, wait_until_finished
from tests.support.listener import Listener
from tests.support.sessions import CLOSE_SECONDS, closed_within, login, refused


def change(api, user, new="new-password-456", current=None):
    return api.put("/auth/password", token=user["token"],
                   json={"currentPassword": current or user["password"], "newPassword": new})


def create_item(api, user, title="An item", body="Some text"):
    response = api.post("/content", token=user["token"],
                        json={"title": title, "type": "Blog Post Outline", "body": body})
    assert response.status_code == 201, response.text
    return response.json()


def delete_account(api, user):
    response = api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    assert response.status_code == 200


def export_everything(api, user):
    pages, cursor = [], None
    while True:
        response = api.get("/auth/me/export", token=user["token"],
                           params={"cursor": cursor} if cursor else None)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["nextCursor"]
        if cursor is None:
            return pages


def test_a_password_change_answers_fresh_credentials(api, user):
    response = change(api, user)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["_id", "name", "email", "token"]
    assert (body["_id"], body["email"]) == (user["_id"], user["email"])
    assert api.get("/auth/me", token=body["token"]).status_code == 200


def test_a_password_change_ends_every_other_token(api, user):
    other = login(api, user)
    change(api, user)
    assert [refused(api, token) for token in (user["token"], other)] == [True, True]


def test_after_a_password_change_only_the_new_password_logs_in(api, user):
    change(api, user, new="brand-new-password")
    old = api.post("/auth/login", json={"email": user["email"], "password": user["password"]})
    new = api.post("/auth/login", json={"email": user["email"],
                                        "password": "brand-new-password"})
    assert (old.status_code, old.json()) == (401, {"message": "Invalid credentials"})
    assert new.status_code == 200


def test_a_password_change_with_a_wrong_current_password_is_400_and_changes_nothing(api, user):
    response = change(api, user, current="not-the-password")
    assert response.status_code == 400
    assert response.json() == {"message": "Password is incorrect"}
    assert api.get("/auth/me", token=user["token"]).status_code == 200


def test_a_password_change_without_both_fields_is_400(api, user):
    response = api.put("/auth/password", token=user["token"], json={"newPassword": "x"})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide currentPassword and newPassword"}


def test_a_password_change_closes_the_sockets_of_the_old_tokens(stack, api, user):
    listener = Listener(stack.url, user["token"]).connect()
    try:
        change(api, user)
        assert closed_within(listener, CLOSE_SECONDS)
    finally:
        listener.close()


def test_deleting_the_account_with_a_wrong_password_is_400_and_deletes_nothing(api, user):
    response = api.delete("/auth/me", token=user["token"], json={"password": "wrong"})
    assert response.status_code == 400
    assert response.json() == {"message": "Password is incorrect"}
    assert api.get("/auth/me", token=user["token"]).status_code == 200


def test_deleting_the_account_answers_200_and_ends_its_tokens(api, user):
    response = api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    assert response.status_code == 200
    assert response.json() == {"message": "Account deleted"}
    me = api.get("/auth/me", token=user["token"])
    assert (me.status_code, me.json()) == (401, {"message": "User not found"})


def test_a_deleted_account_leaves_no_document_of_its_own_in_any_collection(api, user,
                                                                            other_user):
    create_item(api, user)
    api.post("/voices", token=user["token"], json={"name": "Mine", "description": "Dry"})
    wait_until_finished(api, user, submit(api, user, unique("Deleted soon"))["jobId"])
    api.post("/auth/login", json={"email": user["email"], "password": "a wrong guess"})
    api.post("/auth/forgot-password", json={"email": user["email"]})
    api.post("/auth/logout", token=login(api, user))
    api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    assert documents_of(user) == []


def test_deleting_the_account_leaves_other_users_data(api, user, other_user):
    item = create_item(api, other_user)
    api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    listed = api.get("/content", token=other_user["token"]).json()
    assert [entry["_id"] for entry in listed] == [item["_id"]]


def test_a_queued_job_of_a_deleted_account_makes_no_ai_call(api, user, openrouter):
    prompt = unique("Never generated")
    submit(api, user, prompt)
    api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    # The stack's generation delay is 2 s; the message arrives and finds no job.
    time.sleep(5)
    assert openrouter.calls_for(prompt) == []


def test_a_streaming_job_of_a_deleted_account_is_stopped_and_leaves_nothing(api, user, listen,
                                                                             openrouter):
    listener = listen(user["token"])
    prompt = unique("[long] Deleted mid-stream")
    submit(api, user, prompt)
    listener.progress.get(timeout=20)
    delete_account(api, user)
    assert openrouter.aborted(prompt), "the worker kept reading the stream"
    assert len(openrouter.calls_for(prompt)) == 1
    assert documents_of(user) == []


def test_a_job_of_a_deleted_account_waiting_to_retry_makes_no_further_ai_call(api, user,
                                                                              openrouter):
    prompt = unique("[rate-limited-slowly] Deleted between attempts")
    submit(api, user, prompt)
    first = openrouter.first_call(prompt)
    delete_account(api, user)
    openrouter.wait_past_retry(first)
    assert len(openrouter.calls_for(prompt)) == 1
    assert documents_of(user) == []


def test_a_submit_authorised_before_its_account_was_deleted_is_refused_and_stores_nothing(
        api, user, openrouter):
    # The user as the submit read it on arrival, before the deletion ran.
    authorised = db.get().users.find_one({"_id": ObjectId(user["_id"])}, {"password": 0})
    delete_account(api, user)
    prompt = unique("Submitted while deleted")
    with pytest.raises(ApiError) as refused:
        jobs.submit(authorised, {"prompt": prompt, "contentType": "Blog Post Outline"},
                    "192.0.2.1")
    assert (refused.value.status, refused.value.body) == (401, {"message": "Not authorized"})
    assert documents_of(user) == []
    assert openrouter.calls_for(prompt) == []


def test_the_email_of_a_deleted_account_can_register_again_at_once(api, user):
    api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    response = api.post("/auth/register", json={"name": "Again", "email": user["email"],
                                                "password": "another-one"})
    assert response.status_code == 201


def test_deleting_the_account_closes_its_sockets(stack, api, user):
    listener = Listener(stack.url, user["token"]).connect()
    try:
        api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
        assert closed_within(listener, CLOSE_SECONDS)
    finally:
        listener.close()


def test_the_export_holds_every_item_and_job_of_the_user_and_nothing_of_another(
        api, user, other_user):
    items = [create_item(api, user, title=f"Item {n}")["_id"] for n in range(3)]
    job = submit(api, user, unique("Exported"))["jobId"]
    wait_until_finished(api, user, job)
    create_item(api, other_user)
    submit(api, other_user, unique("Not exported"))
    pages = export_everything(api, user)
    assert [item["_id"] for page in pages for item in page["contents"]] == items
    assert [entry["jobId"] for page in pages for entry in page["jobs"]] == [job]


def test_the_exported_jobs_carry_their_usage(api, user):
    job = submit(api, user, unique("With usage"))["jobId"]
    finished = wait_until_finished(api, user, job)
    exported = export_everything(api, user)[0]["jobs"][0]
    assert exported["usage"] == finished["usage"]


def test_the_exported_profile_has_no_password(api, user):
    profile = export_everything(api, user)[0]["profile"]
    assert set(profile) == {"_id", "name", "email", "status", "__v", "createdAt",
                            "updatedAt"}
    assert profile["email"] == user["email"]


def test_a_large_library_is_exported_in_pages_that_together_hold_all_of_it(api, user):
    # Within the library's caps, a page's megabyte of JSON takes characters
    # that JSON escapes (six bytes each here).
    items = [create_item(api, user, title=f"Big {n}", body="é" * 40_000)["_id"]
             for n in range(6)]
    pages = export_everything(api, user)
    assert len(pages) == 2
    assert [item["_id"] for page in pages for item in page["contents"]] == items


@pytest.mark.parametrize("cursor", ["not-a-cursor", "am9iczpub3BlCg", "x" * 201])
def test_an_export_with_an_invalid_cursor_is_400(api, user, cursor):
    response = api.get("/auth/me/export", token=user["token"], params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["message"] in ("Invalid cursor", "cursor must be at most 200 "
                                                             "characters")


def test_the_export_holds_the_users_voices_and_nothing_of_another(api, user, other_user):
    voice = api.post("/voices", token=user["token"], json={"name": "Mine"}).json()
    api.post("/voices", token=other_user["token"], json={"name": "Theirs"})
    pages = export_everything(api, user)
    assert [entry["_id"] for page in pages for entry in page["voices"]] == [voice["_id"]]
