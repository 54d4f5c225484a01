"""Every query of the API, the worker, the sweeper and the limits reads by
an index, and what a user's request examines is bounded by that user's own
data, whatever else the collections hold.

The queries are the ones the code really sends (recorded by a pymongo
command listener) and each is explained on the embedded server. Its explain
of `update` and `delete` reports a collection scan whatever the hint, so
each write's filter and hint are explained as the `find` they amount to."""
import contextlib
import dataclasses
import uuid
from datetime import timedelta

import pymongo
import pytest
from pymongo import monitoring

from chalicelib import auth, clock, content, db, jobs, lifecycle, limits, settings

QUERIES = ("find", "findAndModify", "update", "delete", "count", "aggregate", "distinct")
OTHERS = 200


class Recorder(monitoring.CommandListener):
    """While recording, explains each query sent to one database just before
    the server runs it, so that a write is explained on the data it meets."""

    def __init__(self, database):
        self.database = database
        self.explainer = None
        self.used = None

    def started(self, event):
        if (self.used is not None and event.database_name == self.database
                and event.command_name in QUERIES):
            self.used.extend(_plan(self.explainer, find) for find in _as_finds(event.command))

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


def test_listing_content_examines_only_the_users_own_items(plans, member):
    _items(member["user"], 20)
    with plans() as used:
        listed = content.list_for(member["user"])
    assert len(listed) == 20
    assert used == [("contents", "userId_1_createdAt_-1", 20)]


def test_searching_content_examines_only_the_users_own_items(plans, member):
    _items(member["user"], 20)
    with plans() as used:
        found = content.list_for(member["user"], search="Body")
    assert len(found) == 20
    assert used == [("contents", "userId_1_createdAt_-1", 20)]


def test_an_item_is_read_changed_and_deleted_by_its_id(plans, member):
    item = _items(member["user"], 1)[0]
    with plans() as used:
        content.update(member["user"], item["_id"], {"title": "Renamed"})
        content.delete(member["user"], item["_id"])
    assert used == [("contents", "_id_", 1)] * 4


def test_login_finds_its_user_by_email_and_its_counters_by_id(plans, member):
    with plans() as used:
        auth.login({"email": member["email"], "password": "pw"}, "192.0.2.1")
    assert indexes(used) == [
        ("request_counts", "_id_"), ("login_failures", "_id_"),
        ("users", "email_1"), ("login_failures", "_id_")]


def test_a_token_finds_its_user_by_id(plans, member):
    with plans() as used:
        auth.user_for_token(member["token"])
    assert used == [("users", "_id_", 1)]


def test_submitting_a_job_takes_a_slot_by_the_users_id(plans, member):
    with plans() as used:
        limits.take_generation_slot(member["user"]["_id"], str(uuid.uuid4()))
    assert indexes(used) == [
        ("generation_quotas", "_id_")]


def test_usage_reads_the_quota_by_id_and_its_jobs_by_job_id(plans, member):
    job_id = _job(member["user"])
    limits.take_generation_slot(member["user"]["_id"], job_id)
    with plans() as used:
        limits.usage(member["user"]["_id"])
    assert used == [("generation_quotas", "_id_", 1), ("jobs", "jobId_1", 1),
                    ("generation_quotas", "_id_", 1)]


def test_listing_and_reading_jobs_examine_only_the_users_own_jobs(plans, member):
    job_ids = [_job(member["user"]) for _ in range(3)]
    with plans() as used:
        jobs.list_for(member["user"])
        jobs.status_for(member["user"], job_ids[0])
    assert used == [("jobs", "userId_1_createdAt_-1", 3), ("jobs", "jobId_1", 1)]


def test_claiming_finishing_and_saving_a_job_find_it_by_its_job_id(plans, member):
    job_id = _job(member["user"])
    with plans() as used:
        claimed = lifecycle.claim(job_id).job
        lifecycle.complete(claimed, "Generated text", deadline=float("inf"))
        lifecycle.claim(job_id)
        lifecycle.mark_error(job_id, "late dead letter")
        jobs.save(member["user"], job_id, {})
    assert indexes(used) == [("jobs", "jobId_1")] * 7
    assert all(examined <= 1 for _, _, examined in used)


def test_the_sweeper_examines_only_unfinished_jobs(plans, member):
    stale = _job(member["user"], due_in=-3 * settings.get().stale_job_seconds)
    with plans() as used:
        while (job := lifecycle.take_stale()) is not None:
            assert job["jobId"] == stale
    assert indexes(used) == [
        ("jobs", "status_1_scheduledFor_1"), ("jobs", "status_1_scheduledFor_1"),
        ("jobs", "status_1_claimExpiresAt_1")]
    assert all(examined < OTHERS for _, _, examined in used)


def test_a_restart_examines_only_unfinished_jobs(plans, member):
    _job(member["user"])
    with plans() as used:
        list(lifecycle.unfinished())
    assert indexes(used) == [
        ("jobs", "status_1_scheduledFor_1")]
    assert used[0][2] < OTHERS


def indexes(used):
    return [(collection, index) for collection, index, _ in used]


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


def _email():
    return f"planner-{uuid.uuid4().hex[:12]}@example.com"


def _as_finds(command):
    """The find that selects what `command` reads or writes."""
    collection = next(iter(command.values()))
    if command.get("find"):
        selections = [(command.get("filter", {}), command.get("sort"), command.get("hint"))]
    elif "findAndModify" in command:
        selections = [(command["query"], command.get("sort"), command.get("hint"))]
    elif "updates" in command:
        selections = [(each["q"], None, each.get("hint")) for each in command["updates"]]
    elif "deletes" in command:
        selections = [(each["q"], None, each.get("hint")) for each in command["deletes"]]
    else:
        raise AssertionError(f"no plan check for {command!r}")
    return [{"find": collection, "filter": query,
             **({"sort": sort} if sort else {}), **({"hint": hint} if hint else {})}
            for query, sort, hint in selections]


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
