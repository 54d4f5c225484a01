"""Routes and event handlers: each reads the request and calls chalicelib."""
from chalice import CORSConfig, Response

from chalicelib import auth, content, errors, jobs, settings, worker
from chalicelib.threadsafe import ThreadSafeChalice
from chalicelib.validation import json_body

app = ThreadSafeChalice(app_name="ai-content-generator")
app.api.cors = CORSConfig(allow_origin=settings.cors_origin(),
                          allow_headers=["Authorization", "Content-Type"], max_age=600)
app.register_middleware(errors.middleware, "http")


def _body():
    return json_body(app.current_request)


def _user():
    return auth.current_user(app.current_request)


@app.route("/auth/register", methods=["POST"])
def register():
    return Response(auth.register(_body()), status_code=201)


@app.route("/auth/login", methods=["POST"])
def login():
    return auth.login(_body())


@app.route("/auth/me", methods=["GET"])
def me():
    return auth.profile(_user())


@app.route("/content", methods=["GET"])
def list_content():
    params = app.current_request.query_params or {}
    return content.list_for(_user(), params.get("search"))


@app.route("/content", methods=["POST"])
def create_content():
    user = _user()
    return Response(content.create(user, _body()), status_code=201)


@app.route("/content/{content_id}", methods=["PUT"])
def update_content(content_id):
    user = _user()
    return content.update(user, content_id, _body())


@app.route("/content/{content_id}", methods=["DELETE"])
def delete_content(content_id):
    return content.delete(_user(), content_id)


@app.route("/generate-content", methods=["POST"])
def generate_content():
    user = _user()
    return Response(jobs.submit(user, _body()), status_code=202)


@app.route("/generate-content", methods=["GET"])
def list_jobs():
    return jobs.list_for(_user())


@app.route("/generate-content/{job_id}", methods=["GET"])
def job_status(job_id):
    return jobs.status_for(_user(), job_id)


@app.route("/generate-content/{job_id}/save", methods=["POST"])
def save_job(job_id):
    user = _user()
    return Response(jobs.save(user, job_id, _body()), status_code=201)


# The queues, batch sizes and schedule are infra/topology.yml's: `make package`
# merges them over what Chalice writes for these decorators, and the local
# runner reads the same file. The names here only tie each handler to its
# template resource.
@app.on_sqs_message(queue_arn="JobsQueue", name="worker")
def process_jobs(event):
    return worker.process_batch(event.to_dict()["Records"], event.context)


@app.on_sqs_message(queue_arn="DeadLetterQueue", name="dead_letters")
def process_dead_letters(event):
    return worker.process_dead_letters(event.to_dict()["Records"])


@app.schedule("SweepSchedule", name="sweeper")
def sweep_stale_jobs(event):
    return worker.resend_stale()
