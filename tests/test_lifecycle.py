"""Every transition of a job (chalicelib.lifecycle) on the real MongoDB:
claim first, results only from the claim's holder, dead letters never
taking a job from a live claim, and a paid result surviving a short
database outage."""
import dataclasses
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from chalice.local import LambdaContext
from pymongo import monitoring

from chalicelib import clock, db, lifecycle, queue, settings, worker
from devstack import services

USER_ID = db.object_id("0123456789abcdef01234567")


def new_job(prompt="A job", due_in=0.0, job_id=None):
    moment = clock.now()
    return lifecycle.create({
        "jobId": job_id or str(uuid.uuid4()), "userId": USER_ID, "prompt": prompt,
        "contentType": "Social Media Caption",
        "scheduledFor": moment + timedelta(seconds=due_in),
        "createdAt": moment, "updatedAt": moment, "__v": 0})["jobId"]


def expire_lease(job_id, ago=timedelta(seconds=1)):
    db.get().jobs.update_one({"jobId": job_id},
                             {"$set": {"claimExpiresAt": clock.now() - ago}})


def far(seconds=30):
    return time.monotonic() + seconds


def test_a_due_job_is_claimed_once_and_then_held_until_its_lease_ends(backing):
    job_id = new_job()
    first = lifecycle.claim(job_id)
    second = lifecycle.claim(job_id)
    assert (first.taken, first.job["status"]) == (True, "processing")
    assert (second.taken, second.reason) == (False, "held")
    lease = settings.get().claim_lease_seconds
    assert lease - 5 < second.retry_in <= lease


class Commands(monitoring.CommandListener):
    """The names of the commands sent while it is registered."""

    def __init__(self):
        self.names = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


class ClaimFirst(Commands):
    """Another worker's claim of `job_id`, made once, just before the first
    update is sent: between a claim's read and its update."""

    def __init__(self, job_id):
        super().__init__()
        self.job_id = job_id
        self.armed = True
        self.rival = None

    def started(self, event):
        if event.command_name == "update" and self.armed:
            self.armed = False
            self.rival = lifecycle.claim(self.job_id)


def test_a_claim_overtaken_between_its_read_and_its_update_is_not_taken(backing):
    original = settings.get()
    # A database of its own: its client is built after the listener is
    # registered, and no other test's client sees the listener.
    settings.use(dataclasses.replace(original, mongodb_db=f"race-{uuid.uuid4().hex[:8]}"))
    try:
        job_id = str(uuid.uuid4())
        rival = ClaimFirst(job_id)
        monitoring.register(rival)
        new_job(job_id=job_id)
        outcome = lifecycle.claim(job_id)
        assert rival.rival.taken
        assert (outcome.taken, outcome.reason) == (False, "held")
        assert db.get().jobs.find_one({"jobId": job_id})["attempts"] == 1
    finally:
        settings.use(original)


def test_a_claim_and_its_result_give_the_job_as_stored(backing):
    job_id = new_job()
    claimed = lifecycle.claim(job_id).job
    assert claimed == db.get().jobs.find_one({"jobId": job_id})
    completed = lifecycle.complete(claimed, "result", far(), model="m").job
    assert completed == db.get().jobs.find_one({"jobId": job_id})


def test_an_early_job_is_not_claimed_and_says_how_early(backing):
    outcome = lifecycle.claim(new_job(due_in=30))
    assert (outcome.taken, outcome.reason) == (False, "early")
    assert 25 < outcome.retry_in <= 30


def test_an_unknown_job_is_not_claimed(backing):
    assert lifecycle.claim(str(uuid.uuid4())).reason == "unknown"


def test_an_expired_claim_is_taken_again_and_only_the_new_holder_writes(backing):
    job_id = new_job()
    stale = lifecycle.claim(job_id).job
    expire_lease(job_id)
    fresh = lifecycle.claim(job_id).job
    assert fresh["claimToken"] != stale["claimToken"]
    assert lifecycle.complete(stale, "late result", far()).reason == "lost"
    assert lifecycle.complete(fresh, "result", far()).job["generatedContent"] == "result"


def test_a_finished_job_is_neither_claimed_nor_marked_error(backing):
    job_id = new_job()
    lifecycle.complete(lifecycle.claim(job_id).job, "result", far())
    assert lifecycle.claim(job_id).reason == "finished"
    assert lifecycle.mark_error(job_id, "late dead letter").reason == "finished"
    assert db.get().jobs.find_one({"jobId": job_id})["status"] == "completed"


def test_a_dead_letter_never_takes_a_job_from_a_live_claim(backing):
    job_id = new_job()
    holder = lifecycle.claim(job_id).job
    refused = lifecycle.mark_error(job_id, "dead letter")
    assert (refused.reason, refused.retry_in > 0) == ("held", True)
    assert lifecycle.complete(holder, "paid result", far()).job["status"] == "completed"


def test_a_dead_letter_ends_a_job_whose_lease_ran_out_as_error(backing):
    job_id = new_job()
    lifecycle.claim(job_id)
    expire_lease(job_id)
    ended = lifecycle.mark_error(job_id, "dead letter")
    assert (ended.job["status"], ended.job["error"]) == ("error", "dead letter")


def test_a_dead_letter_ends_a_queued_job_as_error(backing):
    ended = lifecycle.mark_error(new_job(due_in=30), "dead letter")
    assert ended.job["status"] == "error"


def sweep():
    taken = []
    while (job := lifecycle.take_stale()) is not None:
        taken.append(job["jobId"])
    return taken


def test_a_stale_job_is_swept_once_per_period(backing):
    stale = new_job("Stranded", due_in=-3600)
    fresh = new_job("Just due", due_in=-1)
    first = sweep()
    assert stale in first and fresh not in first
    assert stale not in sweep()


def test_a_job_processing_long_past_its_lease_is_swept(backing):
    job_id = new_job("Lost worker")
    lifecycle.claim(job_id)
    expire_lease(job_id, ago=timedelta(hours=1))
    assert job_id in sweep()


def test_concurrent_first_use_builds_one_client_of_each_kind(backing):
    fresh = dataclasses.replace(settings.get(), mongodb_db=f"cold-{uuid.uuid4().hex[:8]}",
                                aws_region="eu-west-1")
    original = settings.get()
    settings.use(fresh)
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            databases = list(pool.map(lambda _: db.get(), range(10)))
            clients = list(pool.map(lambda _: queue.client(), range(10)))
    finally:
        settings.use(original)
    assert len({id(database) for database in databases}) == 1
    assert len({id(client) for client in clients}) == 1


@pytest.fixture
def own_mongo(backing, openrouter, logs, tmp_path):
    """A MongoDB of this test's own, on disk, so it can be stopped and
    started again on the same port and data."""
    storage = str(tmp_path / "mongo")
    mongo = services.start_mongo(storage, logs)
    original = settings.get()
    settings.use(dataclasses.replace(original, mongodb_uri=mongo.url,
                                     openrouter_base_url=openrouter.url))
    state = {"mongo": mongo, "storage": storage}
    yield state
    settings.use(original)
    state["mongo"].stop()


def test_a_database_outage_after_the_ai_answered_costs_no_second_call(own_mongo, openrouter,
                                                                      logs):
    prompt = f"[one-second] Outage at the result {uuid.uuid4()}"
    job_id = new_job(prompt)
    record = {"messageId": "m-1", "receiptHandle": "r-1",
              "body": json.dumps({"jobId": job_id}),
              "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:inprocess-jobs"}
    outcome = {}
    working = threading.Thread(target=lambda: outcome.update(
        answer=worker.generate_batch([record], LambdaContext("worker", 256, 40_000))))
    working.start()
    deadline = far(10)
    while not openrouter.calls_for(prompt):
        assert time.monotonic() < deadline, "the AI was never called"
        time.sleep(0.05)
    port = own_mongo["mongo"].port
    own_mongo["mongo"].stop()
    time.sleep(3)
    own_mongo["mongo"] = services.start_mongo(own_mongo["storage"], logs, port=port)
    working.join(timeout=60)
    job = db.get().jobs.find_one({"jobId": job_id})
    assert outcome == {"answer": {"batchItemFailures": []}}
    assert (job["status"], job["generatedContent"]) == \
        ("completed", f"# Generated\n\nContent about: {prompt}")
    assert len(openrouter.calls_for(prompt)) == 1


def test_cancel_ends_a_queued_job_as_failed(backing):
    outcome = lifecycle.cancel(new_job(due_in=30), USER_ID)
    assert outcome.taken
    assert (outcome.job["status"], outcome.job["error"]) == ("failed", lifecycle.CANCELLED)
    assert lifecycle.claim(outcome.job["jobId"]).reason == "finished"


def test_a_cancelled_processing_job_is_no_longer_held_and_its_result_is_lost(backing):
    job_id = new_job()
    claimed = lifecycle.claim(job_id).job
    assert lifecycle.holds(claimed)
    assert lifecycle.cancel(job_id, USER_ID).taken
    assert not lifecycle.holds(claimed)
    assert lifecycle.complete(claimed, "late text", far()).reason == "lost"
    assert lifecycle.fail(claimed, "late failure", far()).reason == "lost"
    assert db.get().jobs.find_one({"jobId": job_id})["error"] == lifecycle.CANCELLED


def test_a_finished_job_or_another_users_is_not_cancelled(backing):
    done = new_job()
    lifecycle.complete(lifecycle.claim(done).job, "text", far())
    assert lifecycle.cancel(done, USER_ID).reason == "finished"
    other = new_job()
    assert not lifecycle.cancel(other, db.object_id("0123456789abcdef01234568")).taken
    assert db.get().jobs.find_one({"jobId": other})["status"] == "queued"


def test_a_claim_taken_over_after_its_lease_no_longer_holds(backing):
    job_id = new_job()
    stale = lifecycle.claim(job_id).job
    expire_lease(job_id)
    fresh = lifecycle.claim(job_id).job
    assert (lifecycle.holds(stale), lifecycle.holds(fresh)) == (False, True)


def test_a_batch_claim_gives_one_outcome_per_id_in_order(backing):
    due, early, held = new_job(), new_job(due_in=30), new_job()
    lifecycle.claim(held)
    outcomes = lifecycle.claim_many([due, early, str(uuid.uuid4()), held, None])
    assert [outcome.reason for outcome in outcomes] == \
        ["taken", "early", "unknown", "held", "unknown"]
    assert outcomes[0].job == db.get().jobs.find_one({"jobId": due})


def test_a_job_twice_in_one_batch_is_taken_once(backing):
    job_id = new_job()
    first, again = lifecycle.claim_many([job_id, job_id])
    assert (first.taken, again.taken, again.reason) == (True, False, "duplicate")
    assert db.get().jobs.find_one({"jobId": job_id})["attempts"] == 1


def test_each_job_of_a_batch_claim_has_a_token_of_its_own(backing):
    ids = [new_job() for _ in range(3)]
    tokens = {outcome.job["claimToken"] for outcome in lifecycle.claim_many(ids)}
    assert len(tokens) == 3


def test_two_batches_racing_for_the_same_jobs_take_each_once(backing):
    ids = [new_job() for _ in range(20)]
    start = threading.Barrier(2)

    def claim_all(order):
        start.wait()
        return {job_id: outcome for job_id, outcome in zip(order, lifecycle.claim_many(order))}

    with ThreadPoolExecutor(max_workers=2) as pool:
        batches = list(pool.map(claim_all, [ids, ids[::-1]]))
    assert all(batches[0][job_id].taken != batches[1][job_id].taken for job_id in ids)
    assert {job["attempts"] for job in db.get().jobs.find({"jobId": {"$in": ids}})} == {1}


def test_a_batch_claim_takes_an_expired_lease_again_beside_queued_jobs(backing):
    expired, queued = new_job(), new_job()
    stale = lifecycle.claim(expired).job
    expire_lease(expired)
    again, fresh = lifecycle.claim_many([expired, queued])
    assert (again.taken, fresh.taken) == (True, True)
    assert again.job["claimToken"] != stale["claimToken"]
    assert again.job == db.get().jobs.find_one({"jobId": expired})
    assert lifecycle.complete(stale, "late result", far()).reason == "lost"


def test_a_batch_of_due_jobs_is_claimed_in_two_round_trips(backing):
    original = settings.get()
    settings.use(dataclasses.replace(original, mongodb_db=f"trips-{uuid.uuid4().hex[:8]}"))
    try:
        commands = Commands()
        monitoring.register(commands)
        ids = [new_job() for _ in range(10)]
        commands.names.clear()
        outcomes = lifecycle.claim_many(ids)
        assert (commands.names, all(outcome.taken for outcome in outcomes)) == \
            (["update", "find"], True)
    finally:
        settings.use(original)
