"""The API described as an OpenAPI 3 document: the contract's paths, bodies,
statuses and exact messages, plus what the service does beyond it (marked
`x-addition`). Messages and caps are taken from the modules that produce
them, so the description cannot drift from the behaviour."""
import copy
import functools
from pathlib import Path

from chalicelib import accounts, auth, errors, jobs, lifecycle, limits, resets, validation

REDOC = Path(__file__).resolve().parent / "redoc.standalone.js"

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>AI Content Generator API</title>
  <style>body { margin: 0; }</style>
</head>
<body>
  <redoc spec-url="openapi.json"></redoc>
  <script src="docs/redoc.standalone.js"></script>
</body>
</html>
"""

# The page loads nothing from elsewhere: Redoc's "API docs by Redocly" logo
# from its CDN is refused (and hidden), the rest is this API's own. Redoc
# styles with inline <style> and searches in a blob: worker.
DOCS_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")

DESCRIPTION = """The REST API of the AI Content Generator, as its contract
(`api-reference.md`, version 1.0.0) defines it. Every error body is
`{"message": ...}`.

Beyond the contract (marked `x-addition`): a malformed JSON body is 400
`Malformed JSON body`, a body that is not an object 400 `Request body must be a
JSON object`, a wrong Content-Type 415, a body over 256 KiB 413 `Request body
too large`, an unknown route 404 `Not found` and a wrong method 405 `Method not
allowed`. Every field must be a string with a cap (`<field> must be a string`,
`<field> must be at most N characters`); a required field given as null counts
as missing.

Real-time `job_completed` events are sent over Socket.IO, which OpenAPI does
not describe: see the contract's section 7."""

STATUSES = (*lifecycle.UNFINISHED, *lifecycle.FINISHED)


def document(request=None) -> dict:
    """The document, with `servers` naming where the API that serves it is
    mounted: an API Gateway stage adds a prefix such as /api."""
    context = request.context if request is not None else {}
    mount = context.get("path", "").removesuffix(context.get("resourcePath", ""))
    return {**copy.deepcopy(_document()), "servers": [{"url": mount or "/"}]}


def docs_page() -> str:
    return DOCS_PAGE


@functools.lru_cache(maxsize=1)
def redoc_script() -> str:
    return REDOC.read_text()


@functools.lru_cache(maxsize=1)
def _document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "AI Content Generator API", "version": "1.0.0",
                 "description": DESCRIPTION},
        "tags": [{"name": "auth"}, {"name": "content"}, {"name": "generation"},
                 {"name": "documentation", "x-addition": True,
                  "description": "This description and its human-readable page."}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"}},
            "schemas": _schemas(),
        },
        "security": [{"bearerAuth": []}],
    }


def _paths():
    paths = _contract_and_job_paths()
    for path, operations in _account_paths().items():
        paths[path] = {**paths.get(path, {}), **operations}
    return paths


def _account_paths():
    """Sessions, passwords and the account itself: all additions."""
    password_guess = _throttled([limits.LOGIN_LOCKED])
    wrong_password = [auth.WRONG_PASSWORD]
    return {
        "/auth/logout": {"post": _added(_operation(
            "auth", "logout", "End this token's session, or with everywhere all of the "
            "user's; their sockets are closed",
            body=_object({"everywhere": {"type": "boolean", "default": False}}, []),
            optional_body=True,
            responses={200: _json("Logged out", _message_body("Logged out")),
                       400: _messages([], ["everywhere must be true or false"], body=True)}))},
        "/auth/password": {"put": _added(_operation(
            "auth", "changePassword", "Set a new password; every other token ends",
            body=_object({"currentPassword": _string("currentPassword", 1),
                          "newPassword": _string("newPassword", 1)},
                         ["currentPassword", "newPassword"]),
            responses={200: _json("A fresh token; the others no longer work",
                                  _ref("Credentials")),
                       400: _messages([], ["Please provide currentPassword and newPassword",
                                           *wrong_password, "password must be at most 72 bytes",
                                           *_typed("currentPassword", "newPassword")],
                                      body=True),
                       429: password_guess}))},
        "/auth/forgot-password": {"post": _added(_operation(
            "auth", "forgotPassword", "Mail a single-use reset link, if the email is "
            "registered; the same answer either way", public=True,
            body=_object({"email": _string("email", 1)}, ["email"]),
            responses={202: _json("Accepted, whether or not the email is registered",
                                  _message_body(resets.FORGOT_ANSWER)),
                       400: _messages([], ["Please provide all fields", *_typed("email")],
                                      body=True),
                       429: _throttled([limits.TOO_MANY_REQUESTS, limits.RESETS_REFUSED])}))},
        "/auth/reset-password": {"post": _added(_operation(
            "auth", "resetPassword", "Set the password a mailed link allows, once; every "
            "other token ends", public=True,
            body=_object({"token": _string("token", 1), "password": _string("password", 1)},
                         ["token", "password"]),
            responses={200: _json("A fresh token", _ref("Credentials")),
                       400: _messages([], [resets.INVALID_LINK,
                                           "Please provide token and password",
                                           "password must be at most 72 bytes",
                                           *_typed("token", "password")], body=True)}))},
        "/auth/me": {"delete": _added(_operation(
            "auth", "deleteAccount", "Delete the user, their library, jobs (unfinished ones "
            "cancelled first) and records; their sockets are closed",
            body=_object({"password": _string("password", 1)}, ["password"]),
            responses={200: _json("Deleted", _message_body("Account deleted")),
                       400: _messages([], ["Please provide your password", *wrong_password,
                                           *_typed("password")], body=True),
                       429: password_guess}))},
        "/auth/me/export": {"get": _added(_operation(
            "auth", "exportAccount", "Everything stored about the user, a page at a time",
            parameters=[{"name": "cursor", "in": "query", "required": False,
                         "description": "The previous page's nextCursor",
                         "schema": _string("cursor")}],
            responses={200: _json(
                f"The profile, then the library and the jobs (with their usage) oldest "
                f"first, about {accounts.EXPORT_PAGE_BYTES // 1_000_000} MB a page",
                _object({"profile": _ref("Profile"),
                         "contents": {"type": "array", "items": _ref("Content")},
                         "jobs": {"type": "array", "items": _ref("Job")},
                         "nextCursor": {"type": "string", "nullable": True,
                                        "description": "null on the last page"}},
                        ["profile", "contents", "jobs", "nextCursor"])),
                       400: _messages([], ["Invalid cursor", *_caps("cursor")])}))},
    }


def _added(operation):
    return {**operation, "x-addition": True}


def _message_body(message):
    return _object({"message": {"type": "string", "enum": [message]}}, ["message"])


def _contract_and_job_paths():
    return {
        "/auth/register": {"post": _operation(
            "auth", "register", "Register new user", public=True,
            body=_object({"name": _string("name", 1), "email": _string("email", 1, "email"),
                          "password": _string("password", 1)},
                         ["name", "email", "password"]),
            responses={201: _json("Registered: the user and a token", _ref("Credentials")),
                       400: _messages(["Please provide all fields", "User already exists"],
                                      ["Please provide a valid email",
                                       "password must be at most 72 bytes",
                                       *_typed("name", "email", "password")], body=True),
                       429: _throttled([limits.TOO_MANY_REQUESTS])},
            server_error=True)},
        "/auth/login": {"post": _operation(
            "auth", "login", "Login user", public=True,
            body=_object({"email": _string("email"), "password": _string("password")},
                         ["email", "password"]),
            responses={200: _json("Logged in: the user and a token", _ref("Credentials")),
                       400: _messages([], ["Please provide all fields",
                                           *_typed("email", "password")], body=True),
                       401: _messages(["Invalid credentials"]),
                       429: _throttled([limits.TOO_MANY_REQUESTS, limits.LOGIN_LOCKED])},
            server_error=True)},
        "/auth/me": {"get": _operation(
            "auth", "me", "Get current user profile",
            responses={200: _json("The user's profile", _ref("Profile"))})},
        "/content": {
            "get": _operation(
                "content", "listContent", "Get all user content",
                parameters=[{"name": "search", "in": "query", "required": False,
                             "description": "Searches title, type and body, "
                                            "case-insensitively and literally",
                             "schema": _string("search")}],
                responses={200: _json("The user's items, newest first",
                                      {"type": "array", "items": _ref("Content")}),
                           400: _messages([], _caps("search"))}),
            "post": _operation(
                "content", "createContent", "Create new content",
                body=_object({"title": _string("title", 1),
                              "type": _ref("ContentType"),
                              "body": _string("body", 1)}, ["title", "type", "body"]),
                responses={201: _json("The stored item", _ref("Content")),
                           400: _messages(["Please provide all fields",
                                           "Invalid content type"],
                                          _typed("title", "type", "body"), body=True)},
                server_error=True),
        },
        "/content/{id}": {
            "parameters": [_path_id("id", "MongoDB ObjectId of the content")],
            "put": _operation(
                "content", "updateContent", "Update content by ID",
                body=_object({"title": _string("title", 1),
                              "type": _ref("ContentType"),
                              "body": _string("body", 1)}, []),
                optional_body=True,
                responses={200: _json("The updated item", _ref("Content")),
                           400: _messages([], ["Invalid content type",
                                               *[f"{name} cannot be empty"
                                                 for name in ("title", "type", "body")],
                                               *_typed("title", "type", "body")],
                                          body=True),
                           404: _messages(["Content not found"])},
                owner=True, server_error=True),
            "delete": _operation(
                "content", "deleteContent", "Delete content by ID",
                responses={200: _json("The id of the deleted item", _object(
                    {"id": {"type": "string"}}, ["id"])),
                           404: _messages(["Content not found"])},
                owner=True, server_error=True),
        },
        "/generate-content": {
            "post": _operation(
                "generation", "generateContent", "Queue AI content generation",
                body=_object({"prompt": _string("prompt", 1),
                              "contentType": _ref("ContentType")},
                             ["prompt", "contentType"]),
                responses={202: _json("Queued; the result follows after delaySeconds",
                                      _ref("JobQueued")),
                           400: _messages(["Please provide prompt and contentType",
                                           jobs.INVALID_TYPE],
                                          _typed("prompt", "contentType"), body=True),
                           429: _throttled(pattern="^(Active|Daily) generation limit reached: ")},
                server_error=True),
            "get": _operation(
                "generation", "listJobs", "Get all user's generation jobs",
                responses={200: _json("The user's jobs, newest first",
                                      {"type": "array", "items": _ref("Job")})}),
        },
        "/generate-content/{jobId}": {
            "parameters": [_path_id("jobId", "UUID of the job (from the queue response)")],
            "get": _operation(
                "generation", "jobStatus", "Get specific job status",
                responses={200: _json("The job's status, and its result once finished",
                                      _ref("JobStatus")),
                           404: _messages(["Job not found"])},
                server_error=True),
        },
        "/generate-content/{jobId}/save": {
            "parameters": [_path_id("jobId", "UUID of the completed job")],
            "post": _operation(
                "generation", "saveJob", "Save generated content to library",
                body=_object({"title": {**_string("title"), "description":
                                        "Defaults to a title derived from the prompt"}}, []),
                optional_body=True,
                responses={201: _json("Saved to the library", _ref("Saved")),
                           400: _messages(["Cannot save content from incomplete job",
                                           "No generated content available"],
                                          _typed("title"), body=True),
                           404: _messages(["Job not found"])},
                server_error=True),
        },
        "/generate-content/{jobId}/cancel": {
            "parameters": [_path_id("jobId", "UUID of a queued or processing job")],
            "post": {**_operation(
                "generation", "cancelJob", "Stop a queued or processing job",
                responses={200: _json("The job, now failed with \"Cancelled by the user\"; "
                                      "job_completed (failed) is emitted",
                                      _ref("JobStatus")),
                           400: _messages([], ["Job already finished"]),
                           404: _messages(["Job not found"])},
                server_error=True), "x-addition": True},
        },
        "/usage": {"get": {**_operation(
            "generation", "usage", "What the user's limits leave, and this month's spend",
            responses={200: _json("Jobs in flight and in the last 24 hours, against the "
                                  "limits, when the next slot frees (null: now), and the "
                                  "month's jobs, tokens and cost",
                                  _ref("Usage"))}), "x-addition": True}},
        "/openapi.json": {"get": _addition(
            "openapi", "This document",
            {"200": {"description": "The OpenAPI document",
                     "content": {"application/json": {"schema": {"type": "object"}}}}})},
        "/docs": {"get": _addition(
            "docs", "This document as a human-readable page",
            {"200": {"description": "An HTML page that renders /openapi.json",
                     "content": {"text/html": {"schema": {"type": "string"}}}}})},
        "/docs/redoc.standalone.js": {"get": _addition(
            "docsRenderer", "The page's renderer (Redoc, vendored)",
            {"200": {"description": "JavaScript",
                     "content": {"text/javascript": {"schema": {"type": "string"}}}}})},
    }


def _operation(tag, operation_id, summary, responses, body=None, optional_body=False,
               parameters=None, public=False, owner=False, server_error=False):
    documented = {str(status): response for status, response in responses.items()}
    if not public:
        documented["401"] = _messages(
            ["Not authorized, no token", "Not authorized", "User not found",
             *(["User not authorized"] if owner else [])])
    if body is not None:
        documented["413"] = _messages([], ["Request body too large"], addition=True)
        documented["415"] = _messages([], [errors.CHALICE_MESSAGES[415]], addition=True)
    if server_error:
        documented["500"] = _messages(["Server error"])
    operation = {"tags": [tag], "operationId": operation_id, "summary": summary,
                 "responses": dict(sorted(documented.items()))}
    if public:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": not optional_body,
                                    "content": {"application/json": {"schema": body}}}
    return operation


def _addition(operation_id, summary, responses):
    return {"tags": ["documentation"], "operationId": operation_id, "summary": summary,
            "security": [], "x-addition": True, "responses": responses}


def _messages(contract, additions=(), body=False, addition=False):
    """A `{"message"}` response whose message is one of the listed ones: the
    contract's, then those beyond it."""
    if body:
        additions = [*additions, "Malformed JSON body", "Request body must be a JSON object",
                     errors.CHALICE_MESSAGES[400]]
    lines = [f"`{message}`" for message in contract]
    lines += [f"`{message}` (beyond the contract)" for message in additions]
    response = {"description": "; ".join(lines), "content": {"application/json": {
        "schema": {"allOf": [_ref("Error"),
                             {"properties": {"message": {"enum": [*contract, *additions]}}}]}}}}
    if addition:
        response["x-addition"] = True
    return response


def _throttled(messages=(), pattern=None):
    """A limit's 429 (beyond the contract): `{"message"}` saying which limit
    and when it frees, and Retry-After in whole seconds."""
    message = {"pattern": pattern} if pattern else {"enum": list(messages)}
    return {"description": "A limit was reached (beyond the contract)", "x-addition": True,
            "headers": {"Retry-After": {"description": "Seconds until it frees",
                                        "schema": {"type": "integer", "minimum": 1}}},
            "content": {"application/json": {"schema": {"allOf": [
                _ref("Error"), {"properties": {"message": message}}]}}}}


def _typed(*names):
    return [message for name in names
            for message in (f"{name} must be a string", *_caps(name))]


def _caps(name):
    return [f"{name} must be at most {validation.LIMITS[name]} characters"]


def _string(name, min_length=0, string_format=None):
    schema = {"type": "string", "maxLength": validation.LIMITS[name]}
    if min_length:
        schema["minLength"] = min_length
    if string_format:
        schema["format"] = string_format
    return schema


def _object(properties, required):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _path_id(name, description):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _json(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _schemas():
    string, stamp = {"type": "string"}, {"type": "string", "format": "date-time"}
    content_type = _ref("ContentType")
    status = {"type": "string", "enum": list(STATUSES)}
    version, number = {"type": "integer"}, {"type": "number"}
    # Additions on a job that reports usage: its tokens, cost and model.
    spend = {"usage": {**_object({"promptTokens": version, "completionTokens": version,
                                  "totalTokens": version, "cost": number}, []),
                       "x-addition": True},
             "model": {**string, "description": "The model that answered",
                       "x-addition": True}}
    return {
        "ContentType": {"type": "string", "enum": list(validation.CONTENT_TYPES)},
        "Error": _object({"message": string, "currentStatus": {
            **status, "description": "Only when saving a job that is not completed, or "
                                     "cancelling one that has finished"}},
            ["message"]),
        "Credentials": _object({"_id": string, "name": string, "email": string,
                                "token": string}, ["_id", "name", "email", "token"]),
        "Profile": _object({"_id": string, "name": string, "email": string,
                            "status": {"type": "string", "enum": ["active", "inactive"]},
                            "__v": version}, ["_id", "name", "email", "status", "__v"]),
        "Content": _object({"_id": string, "userId": string, "title": string,
                            "type": content_type, "body": string, "createdAt": stamp,
                            "updatedAt": stamp, "__v": version},
                           ["_id", "userId", "title", "type", "body", "createdAt",
                            "updatedAt", "__v"]),
        "JobQueued": _object({"message": {"type": "string", "enum": [
                                  "Content generation job queued successfully"]},
                              "jobId": string, "status": {"type": "string", "enum": ["queued"]},
                              "delaySeconds": version, "scheduledFor": stamp,
                              "estimatedCompletionTime": stamp},
                             ["message", "jobId", "status", "delaySeconds", "scheduledFor",
                              "estimatedCompletionTime"]),
        "JobStatus": _object({"jobId": string, "status": status, "contentType": content_type,
                              "prompt": string, "scheduledFor": stamp, "createdAt": stamp,
                              "generatedContent": string, "error": string,
                              "completedAt": stamp, **spend},
                             ["jobId", "status", "contentType", "prompt", "scheduledFor",
                              "createdAt"]),
        "Job": _object({"_id": string, "jobId": string, "userId": string, "prompt": string,
                        "contentType": content_type, "status": status,
                        "generatedContent": string, "error": string, "scheduledFor": stamp,
                        "completedAt": stamp, "createdAt": stamp, "updatedAt": stamp,
                        "__v": version, **spend},
                       ["_id", "jobId", "userId", "prompt", "contentType", "status",
                        "scheduledFor", "createdAt", "updatedAt", "__v"]),
        "Usage": _object({"activeJobs": version, "maxActiveJobs": version,
                          "jobsLast24h": version, "maxJobsPerDay": version,
                          "nextSlotAt": {**stamp, "nullable": True},
                          "month": _object({"start": stamp, "jobs": version,
                                            "promptTokens": version,
                                            "completionTokens": version,
                                            "totalTokens": version, "cost": number},
                                           ["start", "jobs", "promptTokens",
                                            "completionTokens", "totalTokens", "cost"])},
                         ["activeJobs", "maxActiveJobs", "jobsLast24h", "maxJobsPerDay",
                          "nextSlotAt", "month"]),
        "Saved": _object({"message": {"type": "string", "enum": ["Content saved successfully"]},
                          "content": _ref("Content")}, ["message", "content"]),
    }
