"""Libraries and job histories written straight into the database the
stack reads, for the tests and the benchmark that need a user at the
storage caps without thousands of requests."""
import json
import uuid
from datetime import timedelta

from bson import ObjectId

from chalicelib import clock, db, openrouter

# Each character one that JSON escapes as \uXXXX: the most an answer
# spends on one (seven bytes once Lambda escapes the backslash again).
ESCAPED = "é"
LAMBDA_LIMIT = 6 * 1024 * 1024


def fill_library(user, items, characters, char=ESCAPED):
    """`items` items whose titles and bodies hold `characters` in all,
    stored as a library from before the caps would be (uncounted), each a
    millisecond apart, newest last."""
    start = clock.now() - timedelta(days=1)
    each, rest = divmod(characters, items)
    documents = []
    for n in range(items):
        moment = start + timedelta(milliseconds=n)
        title = f"Item {n}"
        body = char * max(1, each + (rest if n == items - 1 else 0) - len(title))
        documents.append({"userId": ObjectId(user["_id"]), "title": title,
                          "type": "Blog Post Outline", "body": body, "createdAt": moment,
                          "updatedAt": moment, "__v": 0})
    db.get().contents.insert_many(documents)
    return documents


def same_moment_items(user, count):
    """`count` items created in one millisecond: their order is their _id's."""
    moment = clock.now()
    documents = [{"userId": ObjectId(user["_id"]), "title": f"Twin {n}",
                  "type": "Blog Post Outline", "body": "Same moment", "createdAt": moment,
                  "updatedAt": moment, "__v": 0} for n in range(count)]
    db.get().contents.insert_many(documents)


def largest_jobs(user, finished, unfinished, char=ESCAPED):
    """Jobs with every field at its cap, in escaped characters: a prompt of
    4,000, every option full, and three variants of the longest text a call
    keeps."""
    moment = clock.now()
    text = char * openrouter.MAX_TEXT_CHARACTERS
    options = {"tone": char * 60, "length": "long", "language": char * 40,
               "audience": char * 200, "keywords": [char * 40] * 10,
               "productName": char * 120, "features": [char * 200] * 10, "variants": 3}
    jobs = []
    for n in range(finished + unfinished):
        done = n < finished
        job = {"jobId": str(uuid.uuid4()), "userId": ObjectId(user["_id"]),
               "prompt": char * 4000, "contentType": "Product Description", "options": options,
               "status": "completed" if done else "queued", "scheduledFor": moment,
               "createdAt": moment + timedelta(milliseconds=n),
               "updatedAt": moment, "__v": 0}
        if done:
            job.update(generatedContent=text, variants=[text] * 3, completedAt=moment,
                       usage={"promptTokens": 1000, "completionTokens": 3600,
                              "totalTokens": 4600, "cost": 0.01}, model="openai/gpt-4o-mini")
        jobs.append(job)
    db.get().jobs.insert_many(jobs)
    return jobs


def plain_jobs(user, count, status="completed"):
    """`count` small jobs, the first half created in one millisecond."""
    moment = clock.now()
    jobs = [{"jobId": str(uuid.uuid4()), "userId": ObjectId(user["_id"]), "prompt": f"Job {n}",
             "contentType": "Blog Post Outline", "status": status, "scheduledFor": moment,
             "createdAt": moment + timedelta(milliseconds=max(0, n - count // 2)),
             "updatedAt": moment, "__v": 0} for n in range(count)]
    db.get().jobs.insert_many(jobs)
    return jobs


def lambda_payload_bytes(response) -> int:
    """What Lambda would return for this answer: its JSON body as the string
    of an API Gateway proxy response, escaped again."""
    return len(json.dumps({"statusCode": response.status_code, "body": response.text,
                           "headers": dict(response.headers)}))

