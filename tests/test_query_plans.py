"""Every read of the API, the worker, the restart and the limits rides an
index, and what a user's request examines is bounded by that user's own
data, whatever else the collections hold.

The reads are the ones the code really sends (recorded by a pymongo command
listener), each explained on the embedded server just before it runs. Its
explain of update, delete and findAndModify does not describe how it runs
them (a scan is reported for writes it serves from the _id index), so the
conditional writes are not checked here."""
import contextlib
import dataclasses
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pymongo
import pytest
from pymongo import monitoring

from chalicelib import auth, clock, content, db, jobs, lifecycle, limits, settings
from chalicelib.errors import ApiError

READS = ("find", "count", "aggregate", "distinct")
OTHERS = 200


class Recorder(monitoring.CommandListener):
    """While recording, explains each read sent to one database just before
    the server runs it, on the data it meets (later writes of the same block
    would change what it examines)."""

    def __init__(self, database):
        self.database = database
        self.explainer = None
        self.used = None

    def started(self, event):
        if (self.used is not None and event.database_name == self.database
                and event.command_name in READS):
            self.used.extend(_plans(self.explainer, event.command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    @contextlib.contextmanager
    def recording(self):
        """`with recording() as used:` lists, for each query the block sent,
        (collection, index, documents examined); a query that scans a
        collection fails the test."""
        self.used = []
        try:
            yield self.used
        finally:
            self.used = None


@pytest.fixture(scope="module")
def recorder(backing):
    """A database of its own, full of other users' data, whose client
    reports every command to the recorder."""
    previous = settings.get()
    name = f"plans_{uuid.uuid4().hex[:8]}"
    listener = Recorder(name)
    monitoring.register(listener)
    settings.use(dataclasses.replace(previous, mongodb_db=name,
                                     registrations_per_ip_per_minute=100000,
                                     login_attempts_per_ip_per_minute=100000))
    _add_other_users_data()
    yield listener
    settings.use(previous)


@pytest.fixture(scope="module")
def plans(backing, recorder):
    client = pymongo.MongoClient(backing["mongo"].url, tz_aware=True)
    recorder.explainer = client[recorder.database]
    yield recorder.recording
    client.close()


@pytest.fixture
def member():
    credentials = auth.register({"name": "Planner", "email": _email(), "password": "pw"},
                                "192.0.2.1")
    return {**credentials, "user": auth.user_for_token(credentials["token"])}


def test_listing_content_reads_the_user_with_only_its_own_items_in_one_query(plans, member):
    _items(member["user"], 20)
    with plans() as used:
        listed, _ = content.listing(_request(member), {})
    assert len(listed) == 20
    assert used == [("users", "_id_", 1),
                    ("$lookup contents", "userId_1_createdAt_-1__id_-1", 20)]


def test_searching_content_reads_the_user_with_only_its_own_items_in_one_query(plans, member):
    _items(member["user"], 20)
    with plans() as used:
        found, _ = content.listing(_request(member), {"search": "Body"})
    assert len(found) == 20
    assert used == [("users", "_id_", 1),
                    ("$lookup contents", "userId_1_createdAt_-1__id_-1", 20)]


def test_an_item_is_read_by_its_id_to_be_changed_or_deleted(plans, member):
    item = _items(member["user"], 1)[0]
    with plans() as used:
        content.update(member["user"], item["_id"], {"title": "Renamed"})
        content.delete(member["user"], item["_id"])
    assert used == [("contents", "_id_", 1)] * 3


def test_login_finds_its_user_by_email(plans, member):
    with plans() as used:
        auth.login({"email": member["email"], "password": "pw"}, "192.0.2.1")
    assert used[-1] == ("users", "email_1", 1)
    assert all(index == "_id_" for _, index, _ in used[:-1])


def test_a_token_finds_its_user_by_id(plans, member):
    with plans() as used:
        auth.user_for_token(member["token"])
    assert used == [("users", "_id_", 1)]


def test_usage_reads_the_quota_by_id_and_its_jobs_by_job_id(plans, member):
    job_id = _job(member["user"])
    limits.take_generation_slot(member["user"]["_id"], job_id)
    with plans() as used:
        limits.usage(member["user"]["_id"], "192.0.2.1")
    assert ("generation_quotas", "_id_", 1) in used and ("jobs", "jobId_1", 1) in used
    assert all(index in ("_id_", "jobId_1") for _, index, _ in used)


def test_listing_and_reading_jobs_examine_only_the_users_own_jobs(plans, member):
    job_ids = [_job(member["user"]) for _ in range(3)]
    with plans() as used:
        jobs.listing(_request(member), {})
        jobs.status_for(member["user"], job_ids[0])
    user, (listed, index, examined), read = used
    # Either index that leads with userId bounds the listing by the user's own
    # jobs; the embedded planner takes the catch-up's (userId, completedAt).
    assert user == ("users", "_id_", 1)
    assert (listed, index.startswith("userId_1_"), examined) == ("$lookup jobs", True, 3)
    assert read == ("jobs", "jobId_1", 1)


def test_a_claim_and_its_result_read_the_job_by_its_job_id_then_trim_the_users_own(
        plans, member):
    job_id = _job(member["user"])
    with plans() as used:
        ended = lifecycle.complete(lifecycle.claim(job_id).job, "Generated text",
                                   deadline=float("inf"))
        lifecycle.settle([ended.job])
    (claimed, by_job_id, one), (trimmed, index, examined) = used
    assert (claimed, by_job_id, one) == ("jobs", "jobId_1", 1)
    assert (trimmed, index.startswith("userId_1_"), examined) == ("jobs", True, 1)


def test_saving_a_job_reads_it_by_its_job_id_and_counts_only_the_users_library(plans, member):
    job_id = _job(member["user"])
    lifecycle.complete(lifecycle.claim(job_id).job, "Generated text", deadline=float("inf"))
    _items(member["user"], 1)
    with plans() as used:
        jobs.save(member["user"], job_id, {})
    assert used == [("jobs", "jobId_1", 1)]


def test_a_first_save_counts_the_users_library_from_its_own_items(plans, member):
    with plans() as used:
        _items(member["user"], 1)
    assert used == [("library_usage", "_id_", 0), ("contents", "userId_1_createdAt_-1__id_-1", 0)]


def test_a_refused_save_reads_the_users_count_by_id(plans, member, monkeypatch):
    _items(member["user"], 2)
    _with(monkeypatch, max_library_items_per_user=2)
    with plans() as used, pytest.raises(ApiError):
        _items(member["user"], 1)
    assert used == [("library_usage", "_id_", 1)]


def test_pages_of_content_examine_only_the_users_own_items(plans, member):
    _items(member["user"], 20)
    with plans() as used:
        first, cursor = content.listing(_request(member), {"limit": "5"})
        second, _ = content.listing(_request(member), {"cursor": cursor})
    assert (len(first), len(second)) == (5, 15)
    assert [(name, index) for name, index, _ in used] == \
        [("users", "_id_"), ("contents", "userId_1_createdAt_-1__id_-1")] * 2
    # Past the first page: the items after the cursor and the one it names.
    assert used[3][2] <= 16


def test_pages_of_jobs_examine_only_the_users_own_jobs(plans, member):
    for _ in range(6):
        _job(member["user"])
    with plans() as used:
        _, cursor = jobs.listing(_request(member), {"limit": "3"})
        jobs.listing(_request(member), {"cursor": cursor})
    assert used[0] == used[2] == ("users", "_id_", 1)
    for listed, index, examined in used[1::2]:
        assert (listed, index.startswith("userId_1_"), examined <= 6) == ("jobs", True, True)


def test_this_months_usage_reads_the_users_jobs_and_trimmed_total(plans, member):
    _job(member["user"])
    with plans() as used:
        jobs.usage_totals(member["user"])
    (months, by_id, _), (listed, index, examined) = used
    assert (months, by_id) == ("usage_months", "_id_")
    assert (listed, index.startswith("userId_1_"), examined) == ("jobs", True, 1)


def test_a_restart_examines_only_unfinished_jobs(plans, member):
    _job(member["user"])
    with plans() as used:
        list(lifecycle.unfinished())
    assert [index for _, index, _ in used] == ["status_1_claimExpiresAt_1"]
    assert used[0][2] < OTHERS


def _add_other_users_data():
    database, moment = db.get(), clock.now()
    strangers = [db.object_id(uuid.uuid4().hex[:24]) for _ in range(OTHERS)]
    database.contents.insert_many([
        {"userId": stranger, "title": "Body of work", "type": "Blog Post Outline",
         "body": "Body", "createdAt": moment, "updatedAt": moment, "__v": 0}
        for stranger in strangers])
    database.jobs.insert_many([
        {"jobId": str(uuid.uuid4()), "userId": stranger, "prompt": "p",
         "contentType": "Blog Post Outline", "status": "completed", "generatedContent": "t",
         "scheduledFor": moment - timedelta(days=1), "completedAt": moment,
         "createdAt": moment, "updatedAt": moment, "__v": 0}
        for stranger in strangers])


def _items(user, count):
    return [content.create(user, {"title": f"Item {n}", "type": "Blog Post Outline",
                                  "body": "Body text"}) for n in range(count)]


def _job(user, due_in=0.0):
    moment = clock.now()
    return lifecycle.create({
        "jobId": str(uuid.uuid4()), "userId": user["_id"], "prompt": "A prompt",
        "contentType": "Blog Post Outline",
        "scheduledFor": moment + timedelta(seconds=due_in),
        "createdAt": moment, "updatedAt": moment, "__v": 0})["jobId"]


def _with(monkeypatch, **values):
    config = dataclasses.replace(settings.get(), **values)
    monkeypatch.setattr(settings, "get", lambda: config)


def _request(member):
    """What the routes read of a request: its bearer token."""
    return SimpleNamespace(headers={"authorization": f"Bearer {member['token']}"})


def _email():
    return f"planner-{uuid.uuid4().hex[:12]}@example.com"


def _plans(database, command):
    """(collection, index, documents examined) of each query a read runs:
    a find, or a join's two. A join's collection is named "$lookup <name>"."""
    if "find" in command:
        return [_plan(database, {key: command[key] for key in
                                 ("find", "filter", "sort", "projection") if key in command})]
    if "aggregate" in command:
        match, lookup = _join(command)
        matched = _plan(database, {"find": command["aggregate"], "filter": match})
        name, index, examined = _plan(database, {
            "find": lookup["from"], "filter": {lookup["foreignField"]: match["_id"]}})
        return [matched, (f"$lookup {name}", index, examined)]
    raise AssertionError(f"no plan check for {command!r}")


def _join(command):
    """A user's join of its documents: $match by _id, $lookup of a foreign
    field equal to that _id. The server's explain does not describe a
    $lookup's inner query, so the query it stands for is explained."""
    stages = {name: spec for stage in command["pipeline"] for name, spec in stage.items()}
    match, lookup = stages["$match"], stages["$lookup"]
    assert set(match) == {"_id"} and lookup["localField"] == "_id", command
    return match, lookup


def _plan(database, find):
    explained = database.command("explain", find, verbosity="executionStats")
    stages = list(_stages(explained["queryPlanner"]["winningPlan"]))
    assert "COLLSCAN" not in [stage for stage, _ in stages], find
    indexes = [index for stage, index in stages if stage == "IXSCAN"]
    assert len(indexes) == 1, find
    return find["find"], indexes[0], explained["executionStats"]["totalDocsExamined"]


def _stages(plan):
    yield plan["stage"], plan.get("indexName")
    for child in [plan["inputStage"]] if "inputStage" in plan else plan.get("inputStages", []):
        yield from _stages(child)
