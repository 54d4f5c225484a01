"""Routes and event handlers: each reads the request and calls chalicelib."""
from chalice import Response

from chalicelib import auth, content, contract, edge, jobs, limits, logs, settings, voices
from chalicelib.validation import json_body

if settings.in_lambda():
    logs.configure(json_lines=True)
app = edge.ThreadSafeChalice(app_name="ai-content-generator")
app.api.cors = edge.SettingsCors(allow_headers=["Authorization", "Content-Type"], max_age=600)
app.register_middleware(logs.middleware, "all")
app.register_middleware(edge.middleware, "http")


def _body():
    return json_body(app.current_request)


def _user():
    return auth.current_user(app.current_request)


# The documentation's, the rarer routes' and the queue handlers' modules are
# imported when first used: Lambda cannot cache bytecode, so each module
# imported at start is compiled again on every cold start of every function.
def _openapi():
    from chalicelib import openapi
    return openapi


def _export():
    from chalicelib import export
    return export


def _accounts():
    from chalicelib import accounts
    return accounts


def _resets():
    from chalicelib import resets
    return resets


def _worker():
    from chalicelib import worker
    return worker


def _source_ip():
    # API Gateway's view of the peer; X-Forwarded-For is the client's to forge.
    return app.current_request.context["identity"]["sourceIp"]


@app.route("/auth/register", methods=["POST"])
def register():
    return Response(auth.register(_body(), _source_ip()), status_code=201)


@app.route("/auth/login", methods=["POST"])
def login():
    return auth.login(_body(), _source_ip())


@app.route("/auth/forgot-password", methods=["POST"])
def forgot_password():
    return Response(_resets().forgot(_body(), _source_ip()), status_code=202)


@app.route("/auth/reset-password", methods=["POST"])
def reset_password():
    return _resets().reset(_body())


@app.route("/auth/me", methods=["GET"])
def me():
    return auth.profile(_user())


@app.route("/auth/logout", methods=["POST"])
def logout():
    user, claims = auth.current_session(app.current_request)
    return auth.logout(user, claims, _body())


@app.route("/auth/password", methods=["PUT"])
def change_password():
    user = _user()
    return _accounts().change_password(user, _body())


@app.route("/auth/me", methods=["DELETE"])
def delete_account():
    user = _user()
    return _accounts().delete(user, _body())


@app.route("/auth/me/export", methods=["GET"])
def export_account():
    user = _user()
    params = app.current_request.query_params or {}
    return _accounts().export(user, params.get("cursor"))


def _listed(items, next_cursor):
    """A list as the contract answers it; a page's next cursor (an
    addition) in a header, so the body keeps the contract's shape."""
    headers = {"Access-Control-Expose-Headers": contract.NEXT_CURSOR_HEADER}
    if next_cursor:
        headers[contract.NEXT_CURSOR_HEADER] = next_cursor
    return Response(items, headers=headers)


@app.route("/content", methods=["GET"])
def list_content():
    return _listed(*content.listing(app.current_request, app.current_request.query_params or {}))


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


@app.route("/content/{content_id}/export", methods=["GET"])
def export_content(content_id):
    text, headers = _export().export(_user(), content_id, app.current_request.query_params or {})
    return Response(text, headers=headers)


@app.route("/voices", methods=["GET"])
def list_voices():
    return voices.list_for(_user())


@app.route("/voices", methods=["POST"])
def create_voice():
    user = _user()
    return Response(voices.create(user, _body()), status_code=201)


@app.route("/voices/{voice_id}", methods=["PUT"])
def update_voice(voice_id):
    user = _user()
    return voices.update(user, voice_id, _body())


@app.route("/voices/{voice_id}", methods=["DELETE"])
def delete_voice(voice_id):
    return voices.delete(_user(), voice_id)


@app.route("/generate-content", methods=["POST"])
def generate_content():
    user = _user()
    return Response(jobs.submit(user, _body(), _source_ip()), status_code=202)


@app.route("/usage", methods=["GET"])
def usage():
    user = _user()
    return {**limits.usage(user["_id"], _source_ip()), "month": jobs.usage_totals(user)}


@app.route("/generate-content", methods=["GET"])
def list_jobs():
    return _listed(*jobs.listing(app.current_request, app.current_request.query_params or {}))


@app.route("/generate-content/{job_id}", methods=["GET"])
def job_status(job_id):
    return jobs.status_for(_user(), job_id)


@app.route("/generate-content/{job_id}/save", methods=["POST"])
def save_job(job_id):
    user = _user()
    body = _body()
    return Response(jobs.save(user, job_id, body), status_code=200 if jobs.replaces(body) else 201)


@app.route("/generate-content/{job_id}/regenerate", methods=["POST"])
def regenerate_job(job_id):
    return Response(jobs.regenerate(_user(), job_id, _source_ip()), status_code=202)


@app.route("/content/{content_id}/rewrite", methods=["POST"])
def rewrite_content(content_id):
    user = _user()
    return Response(jobs.rewrite(user, content_id, _body(), _source_ip()), status_code=202)


@app.route("/generate-content/{job_id}/cancel", methods=["POST"])
def cancel_job(job_id):
    return jobs.cancel(_user(), job_id)


@app.route("/openapi.json", methods=["GET"])
def openapi_document():
    return _openapi().document(app.current_request)


@app.route("/docs", methods=["GET"])
def docs():
    return Response(_openapi().docs_page(), headers={
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": _openapi().DOCS_POLICY})


@app.route("/docs/redoc.standalone.js", methods=["GET"])
def docs_renderer():
    return Response(_openapi().redoc_script(), headers={
        "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "max-age=86400"})


# The queues, batch sizes and schedule are infra/topology.yml's: `make package`
# merges them over what Chalice writes for these decorators, and the local
# runner reads the same file. The names here only tie each handler to its
# template resource.
@app.on_sqs_message(queue_arn="JobsQueue", name="worker")
def process_jobs(event):
    return _worker().generate_batch(event.to_dict()["Records"], event.context)


@app.on_sqs_message(queue_arn="DeadLetterQueue", name="dead_letters")
def process_dead_letters(event):
    worker = _worker()
    return worker.process_batch(event.to_dict()["Records"], event.context, worker.give_up)


@app.schedule("SweepSchedule", name="sweeper")
def sweep_stale_jobs(event):
    return _worker().resend_stale()
