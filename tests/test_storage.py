"""Storage and lists bounded (issue 21): the library's caps per user, finished
jobs kept for a retention and a count, and the lists paged by a cursor as an
addition, whose unpaged answers the caps keep under Lambda's 6 MB. Over HTTP
against the stack at its default caps; retention in this process against the
same MongoDB."""
import dataclasses
import threading
import time
import uuid
from datetime import timedelta

import pytest
from bson import ObjectId

from chalicelib import clock, db, lifecycle, pages, settings
from tests.support.client import Client
from tests.support.database import aggregate_failing_once
from tests.support.storage import (LAMBDA_LIMIT, fill_library, largest_jobs, lambda_payload_bytes,
                                   plain_jobs, same_moment_items)

ITEMS_FULL = "Library full: at most 1000 items; delete some to save more"
CHARACTERS_FULL = ("Library full: at most 500000 characters of titles and bodies; "
                   "delete or shorten some items to save more")
ITEM = {"title": "One more", "type": "Blog Post Outline", "body": "Some text"}


def library(api, user):
    response = api.get("/content", token=user["token"])
    assert response.status_code == 200
    return response.json()


def stored_job(user, **fields):
    moment = clock.now()
    job = {"jobId": str(uuid.uuid4()), "userId": ObjectId(user["_id"]), "prompt": "A prompt",
           "contentType": "Blog Post Outline", "status": "completed",
           "generatedContent": "Generated text", "scheduledFor": moment,
           "completedAt": moment, "createdAt": moment, "updatedAt": moment, "__v": 0,
           **fields}
    db.get().jobs.insert_one(job)
    return job["jobId"]


# The library's caps.

def test_a_new_item_past_the_item_cap_is_400_and_stores_nothing(api, user):
    fill_library(user, 999, 999 * 20, char="x")
    assert api.post("/content", token=user["token"], json=ITEM).status_code == 201
    before = library(api, user)
    response = api.post("/content", token=user["token"], json=ITEM)
    assert response.status_code == 400
    assert response.json() == {"message": ITEMS_FULL}
    assert library(api, user) == before


def test_a_new_item_past_the_character_cap_is_400_and_stores_nothing(api, user):
    fill_library(user, 10, 500_000 - 20, char="x")
    before = library(api, user)
    response = api.post("/content", token=user["token"],
                        json={**ITEM, "title": "Twelve chars", "body": "Nine char"})
    assert response.status_code == 400
    assert response.json() == {"message": CHARACTERS_FULL}
    assert library(api, user) == before
    fitting = api.post("/content", token=user["token"],
                       json={**ITEM, "title": "Ten chars.", "body": "Ten chars."})
    assert fitting.status_code == 201


def test_an_emoji_counts_as_two_characters_as_javascript_counts_it(api, user):
    fill_library(user, 10, 500_000 - 2, char="x")
    response = api.post("/content", token=user["token"], json={**ITEM, "title": "a",
                                                                "body": "\U0001F600"})
    assert response.status_code == 400
    assert response.json() == {"message": CHARACTERS_FULL}


def test_an_edit_that_lengthens_an_item_past_the_cap_is_400_and_changes_nothing(api, user):
    item = fill_library(user, 10, 500_000, char="x")[0]
    path = f"/content/{item['_id']}"
    response = api.put(path, token=user["token"], json={"body": item["body"] + "!"})
    assert response.status_code == 400
    assert response.json() == {"message": CHARACTERS_FULL}
    assert db.get().contents.find_one({"_id": item["_id"]})["body"] == item["body"]


def test_a_shorter_edit_and_a_delete_make_room_again(api, user):
    items = fill_library(user, 10, 500_000, char="x")
    shortened = api.put(f"/content/{items[0]['_id']}", token=user["token"],
                        json={"body": items[0]["body"][:-5]})
    assert shortened.status_code == 200
    assert api.post("/content", token=user["token"],
                    json={**ITEM, "title": "T", "body": "four"}).status_code == 201
    assert api.post("/content", token=user["token"], json=ITEM).status_code == 400
    assert api.delete(f"/content/{items[1]['_id']}", token=user["token"]).status_code == 200
    assert api.post("/content", token=user["token"], json=ITEM).status_code == 201


def test_saving_a_jobs_result_into_a_full_library_is_400_and_stores_nothing(api, user):
    fill_library(user, 1000, 20_000, char="x")
    job_id = stored_job(user)
    before = library(api, user)
    response = api.post(f"/generate-content/{job_id}/save", token=user["token"], json={})
    assert response.status_code == 400
    assert response.json() == {"message": ITEMS_FULL}
    assert library(api, user) == before


def test_replacing_an_item_with_a_longer_rewrite_past_the_cap_is_400_and_leaves_it(api, user):
    item = fill_library(user, 10, 500_000, char="x")[0]
    job_id = stored_job(user, generatedContent=item["body"] + " and more",
                        rewrite={"contentId": str(item["_id"]), "instruction": "expand",
                                 "source": item["body"]})
    response = api.post(f"/generate-content/{job_id}/save", token=user["token"],
                        json={"replace": True})
    assert response.status_code == 400
    assert response.json() == {"message": CHARACTERS_FULL}
    assert db.get().contents.find_one({"_id": item["_id"]})["body"] == item["body"]


def test_concurrent_saves_for_the_last_free_slot_store_exactly_one(stack, user):
    fill_library(user, 999, 999 * 20, char="x")
    answers = []

    def save():
        answers.append(Client(stack.url).post("/content", token=user["token"], json=ITEM))

    threads = [threading.Thread(target=save) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [201] + [400] * 11
    assert db.get().contents.count_documents({"userId": ObjectId(user["_id"])}) == 1000


# Pages of the lists.

def walk(api, user, path, limit):
    """Every page of a list, following X-Next-Cursor: (items, page sizes)."""
    items, sizes, params = [], [], {"limit": str(limit)}
    while True:
        response = api.get(path, token=user["token"], params=params)
        assert response.status_code == 200, response.text
        assert response.headers["Access-Control-Expose-Headers"] == "X-Next-Cursor"
        items += response.json()
        sizes.append(len(response.json()))
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return items, sizes
        params = {"limit": str(limit), "cursor": cursor}


def test_pages_of_the_library_hold_the_whole_list_once_in_the_contracts_order(api, user):
    fill_library(user, 7, 700, char="x")
    same_moment_items(user, 6)
    whole = library(api, user)
    items, sizes = walk(api, user, "/content", 4)
    assert items == whole
    assert sizes == [4, 4, 4, 1]
    assert len({item["_id"] for item in items}) == 13


def test_pages_of_jobs_hold_the_whole_list_once_in_the_contracts_order(api, user):
    plain_jobs(user, 9)
    whole = api.get("/generate-content", token=user["token"]).json()
    items, sizes = walk(api, user, "/generate-content", 3)
    assert items == whole
    assert sizes == [3, 3, 3]
    assert len({job["jobId"] for job in items}) == 9


def test_pages_of_a_search_hold_its_matches_once(api, user):
    for n in range(6):
        api.post("/content", token=user["token"],
                 json={**ITEM, "title": f"{'Match' if n % 2 else 'Other'} {n}"})
    whole = api.get("/content", token=user["token"], params={"search": "match"}).json()
    response = api.get("/content", token=user["token"], params={"search": "match", "limit": "2"})
    rest = api.get("/content", token=user["token"], params={
        "search": "match", "limit": "2", "cursor": response.headers["X-Next-Cursor"]})
    assert response.json() + rest.json() == whole
    assert len(whole) == 3
    assert "X-Next-Cursor" not in rest.headers


def test_without_limit_or_cursor_the_list_is_the_contracts_whole_array(api, user):
    fill_library(user, 150, 1500, char="x")
    response = api.get("/content", token=user["token"])
    assert len(response.json()) == 150
    assert "X-Next-Cursor" not in response.headers


def test_a_cursor_alone_pages_at_the_largest_page(api, user):
    fill_library(user, 150, 1500, char="x")
    first = api.get("/content", token=user["token"], params={"limit": "1"})
    rest = api.get("/content", token=user["token"],
                   params={"cursor": first.headers["X-Next-Cursor"]})
    assert len(rest.json()) == 100
    assert "X-Next-Cursor" in rest.headers


@pytest.mark.parametrize("path", ["/content", "/generate-content"])
@pytest.mark.parametrize("limit", ["0", "101", "-1", "1.5", "ten", "", "٣"])
def test_a_limit_that_is_not_a_whole_number_from_1_to_100_is_400(api, user, path, limit):
    response = api.get(path, token=user["token"], params={"limit": limit})
    assert response.status_code == 400
    assert response.json() == {"message": "limit must be a whole number from 1 to 100"}


@pytest.mark.parametrize("path", ["/content", "/generate-content"])
@pytest.mark.parametrize("params", [{"limit": "0"}, {"cursor": "not-a-cursor"},
                                    {"search": "x" * 5000}])
def test_a_bad_parameter_with_a_deleted_users_token_is_401_user_not_found(api, user, path,
                                                                          params):
    api.delete("/auth/me", token=user["token"], json={"password": user["password"]})
    response = api.get(path, token=user["token"], params=params)
    assert (response.status_code, response.json()) == (401, {"message": "User not found"})


@pytest.mark.parametrize("path", ["/content", "/generate-content"])
@pytest.mark.parametrize("cursor", [
    "", "not-a-cursor", pages.encode("contents", "x"), pages.encode("voices", 1, ObjectId()),
    pages.encode("contents", "-5", ObjectId()), pages.encode("contents", 1, "nope"),
    pages.encode("contents", "9" * 30, ObjectId()), pages.encode("contents", ObjectId())])
def test_an_invalid_cursor_is_400(api, user, path, cursor):
    response = api.get(path, token=user["token"], params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid cursor"}


def test_a_cursor_of_one_list_is_invalid_for_the_other(api, user):
    plain_jobs(user, 2)
    cursor = api.get("/generate-content", token=user["token"],
                     params={"limit": "1"}).headers["X-Next-Cursor"]
    response = api.get("/content", token=user["token"], params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid cursor"}


# At the caps, the contract's unpaged lists.

def test_at_the_caps_the_unpaged_lists_answer_under_6_mb(api, user):
    # Every character one that JSON escapes, every job field at its cap: the
    # most the answers can hold.
    fill_library(user, 1000, 500_000)
    largest_jobs(user, finished=20, unfinished=5)
    contents = api.get("/content", token=user["token"])
    listed = api.get("/generate-content", token=user["token"])
    assert (contents.status_code, len(contents.json())) == (200, 1000)
    assert (listed.status_code, len(listed.json())) == (200, 25)
    assert lambda_payload_bytes(contents) < LAMBDA_LIMIT
    assert lambda_payload_bytes(listed) < LAMBDA_LIMIT


def test_a_library_too_large_to_read_with_its_user_in_one_command_is_listed_all_the_same(
        api, user):
    # MongoDB refuses a $lookup whose matches pass 16 MB with code 4568; the
    # database server under test says so, once, to the stack's own client.
    fill_library(user, 3, 300, char="x")
    with aggregate_failing_once(4568):
        response = api.get("/content", token=user["token"])
    assert (response.status_code, len(response.json())) == (200, 3)
    assert response.json() == api.get("/content", token=user["token"]).json()


# Finished jobs: retention and count, in this process.

@pytest.fixture
def kept(backing, monkeypatch):
    """Settings that keep three finished jobs for a day."""
    config = dataclasses.replace(settings.get(), max_finished_jobs_per_user=3,
                                 finished_job_retention_days=1)
    monkeypatch.setattr(settings, "get", lambda: config)
    return config


def job(user_id, due_in=0):
    moment = clock.now()
    return lifecycle.create({"jobId": str(uuid.uuid4()), "userId": user_id, "prompt": "p",
                             "contentType": "Blog Post Outline",
                             "scheduledFor": moment + timedelta(seconds=due_in),
                             "createdAt": moment, "updatedAt": moment, "__v": 0})["jobId"]


def finish(job_id, **extra):
    """As a worker does: the claim's result, then its settlement."""
    ended = lifecycle.complete(lifecycle.claim(job_id).job, "Text", deadline=float("inf"),
                               **extra)
    lifecycle.settle([ended.job])


def statuses(user_id):
    return {found["jobId"]: found["status"] for found in db.get().jobs.find({"userId": user_id})}


def test_only_a_finish_sets_when_the_job_expires(kept):
    user_id = ObjectId()
    queued, processing, done, cancelled = (job(user_id) for _ in range(4))
    lifecycle.claim(processing)
    finish(done)
    lifecycle.cancel(cancelled, user_id)
    stored = {found["jobId"]: found for found in db.get().jobs.find({"userId": user_id})}
    assert "expiresAt" not in stored[queued] and "expiresAt" not in stored[processing]
    for finished in (done, cancelled):
        assert stored[finished]["expiresAt"] == \
            stored[finished]["completedAt"] + timedelta(days=1)


def test_a_finish_trims_the_oldest_finished_beyond_the_count_and_never_an_unfinished(kept):
    user_id = ObjectId()
    queued, processing = job(user_id, due_in=-3600), job(user_id, due_in=-3600)
    lifecycle.claim(processing)
    finished = [job(user_id) for _ in range(5)]
    for job_id in finished:
        finish(job_id)
    assert statuses(user_id) == {queued: "queued", processing: "processing",
                                 **{job_id: "completed" for job_id in finished[2:]}}


def test_trimmed_jobs_still_count_in_this_months_usage(kept):
    from chalicelib import jobs
    user = {"_id": ObjectId()}
    for _ in range(5):
        finish(job(user["_id"]), usage={"promptTokens": 1, "completionTokens": 2,
                                         "totalTokens": 3, "cost": 0.5})
    month = jobs.usage_totals(user)
    assert len(statuses(user["_id"])) == 3
    assert {key: month[key] for key in ("jobs", "totalTokens", "cost")} == \
        {"jobs": 5, "totalTokens": 15, "cost": 2.5}


def test_one_settlement_trims_each_users_finished_jobs_to_the_count(kept):
    users = [ObjectId(), ObjectId()]
    finished = {user: [job(user) for _ in range(5)] for user in users}
    ended = [lifecycle.complete(lifecycle.claim(job_id).job, "Text", deadline=float("inf")).job
             for user in users for job_id in finished[user]]
    lifecycle.settle(ended)
    for user in users:
        assert statuses(user) == {job_id: "completed" for job_id in finished[user][2:]}


def test_trims_racing_over_the_same_jobs_count_each_trimmed_job_once(kept):
    from chalicelib import jobs
    user = {"_id": ObjectId()}
    ended = [lifecycle.complete(lifecycle.claim(job(user["_id"])).job, "Text",
                                deadline=float("inf"), usage={"totalTokens": 3, "cost": 0.5}).job
             for _ in range(8)]
    racing = [threading.Thread(target=lifecycle.settle, args=([finished],))
              for finished in ended]
    for thread in racing:
        thread.start()
    for thread in racing:
        thread.join()
    month = jobs.usage_totals(user)
    assert len(statuses(user["_id"])) == 3
    assert {key: month[key] for key in ("jobs", "totalTokens", "cost")} == \
        {"jobs": 8, "totalTokens": 24, "cost": 4.0}


def test_the_ttl_removes_a_finished_job_past_its_retention_and_keeps_unfinished_ones(
        kept, monkeypatch):
    user_id = ObjectId()
    old_queued, done = job(user_id, due_in=-86400 * 40), job(user_id)
    claimed = lifecycle.claim(done).job
    # Finished 2 days ago, kept for 1: the embedded server's TTL monitor
    # (every 60 s, as MongoDB's) removes it on its next pass.
    two_days_ago = clock.now() - timedelta(days=2)
    with monkeypatch.context() as patched:
        patched.setattr(clock, "now", lambda: two_days_ago)
        lifecycle.complete(claimed, "Text", deadline=float("inf"))
    deadline = time.monotonic() + 75
    while done in statuses(user_id) and time.monotonic() < deadline:
        time.sleep(1)
    assert statuses(user_id) == {old_queued: "queued"}
