"""The API described as an OpenAPI 3 document: the contract's paths, bodies,
statuses and exact messages, plus what the service does beyond it (marked
`x-addition`). Messages, content types and schemas are the contract
module's and caps are validation's, so the description cannot drift from the
behaviour."""
import copy
import functools
from pathlib import Path

from chalicelib import accounts, contract, options, settings, validation
from chalicelib.contract import obj as _object, ref as _ref

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

DESCRIPTION = f"""The REST API of the AI Content Generator, as its contract
(`api-reference.md`, version 1.0.0) defines it. Every error body is
`{{"message": ...}}`.

Beyond the contract (marked `x-addition`): a malformed JSON body is 400
`{contract.MALFORMED_JSON}`, a body that is not an object 400 `{contract.NOT_AN_OBJECT}`,
a wrong Content-Type 415, a body over 256 KiB 413 `{contract.BODY_TOO_LARGE}`, an
unknown route 404 `{contract.NOT_FOUND}` and a wrong method 405
`{contract.METHOD_NOT_ALLOWED}`. Every field must be a string with a cap
(`{contract.not_a_string("<field>")}`, `{contract.too_long("<field>", "N")}`); a
required field given as null counts as missing.

Hostile input is refused with a 400 (beyond the contract): a body that is not
UTF-8, starts with a byte order mark or holds NaN or Infinity is
`{contract.MALFORMED_JSON}`; one nested deeper than {contract.MAX_JSON_DEPTH} levels
`{contract.TOO_DEEP}`; one that repeats a key `{contract.REPEATED_KEY}`; one with
an integer beyond 64 bits or a number beyond a double
`{contract.NUMBER_OUT_OF_RANGE}`. A string with a lone surrogate is
`{contract.not_text("<field>")}`, and a new password holding NUL
`{contract.PASSWORD_HOLDS_NUL}`. The Socket.IO handshake's `auth` is read by
the same rules: one that breaks them gets `connect_error` with
`{contract.MALFORMED_AUTH}`.

Real-time `job_completed` and `job_progress` events are sent over Socket.IO,
which OpenAPI does not describe: see the contract's section 7 and the
JobCompleted and JobProgress schemas."""


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
                 {"name": "voices", "x-addition": True,
                  "description": "Brand voices a generation can follow."},
                 {"name": "documentation", "x-addition": True,
                  "description": "This description and its human-readable page."}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"}},
            "schemas": {**contract.schemas(), "Options": _options_schema()},
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
    password_guess = _throttled([contract.LOGIN_LOCKED])
    wrong_password = [contract.WRONG_PASSWORD]
    return {
        "/auth/logout": {"post": _added(_operation(
            "auth", "logout", "End this token's session, or with everywhere all of the "
            "user's; their sockets are closed",
            body=_object({"everywhere": {"type": "boolean", "default": False}}, []),
            optional_body=True,
            responses={200: _json(contract.LOGGED_OUT, _message_body(contract.LOGGED_OUT)),
                       400: _messages([], [contract.EVERYWHERE_NOT_BOOLEAN], body=True)}))},
        "/auth/password": {"put": _added(_operation(
            "auth", "changePassword", "Set a new password; every other token ends",
            body=_object({"currentPassword": _string("currentPassword", 1),
                          "newPassword": _string("newPassword", 1)},
                         ["currentPassword", "newPassword"]),
            responses={200: _json("A fresh token; the others no longer work",
                                  _ref("Credentials")),
                       400: _messages([], [contract.MISSING_PASSWORDS,
                                           *wrong_password, contract.PASSWORD_TOO_LONG,
                                           contract.PASSWORD_HOLDS_NUL,
                                           *_typed("currentPassword", "newPassword")],
                                      body=True),
                       429: password_guess}))},
        "/auth/forgot-password": {"post": _added(_operation(
            "auth", "forgotPassword", "Mail a single-use reset link, if the email is "
            "registered; the same answer either way", public=True,
            body=_object({"email": _string("email", 1)}, ["email"]),
            responses={202: _json("Accepted, whether or not the email is registered",
                                  _message_body(contract.FORGOT_ANSWER)),
                       400: _messages([], [contract.MISSING_FIELDS, *_typed("email")],
                                      body=True),
                       429: _throttled([contract.TOO_MANY_REQUESTS, contract.RESETS_REFUSED])}))},
        "/auth/reset-password": {"post": _added(_operation(
            "auth", "resetPassword", "Set the password a mailed link allows, once; every "
            "other token ends", public=True,
            body=_object({"token": _string("token", 1), "password": _string("password", 1)},
                         ["token", "password"]),
            responses={200: _json("A fresh token", _ref("Credentials")),
                       400: _messages([], [contract.INVALID_LINK,
                                           contract.MISSING_RESET_FIELDS,
                                           contract.PASSWORD_TOO_LONG,
                                           contract.PASSWORD_HOLDS_NUL,
                                           *_typed("token", "password")], body=True)}))},
        "/auth/me": {"delete": _added(_operation(
            "auth", "deleteAccount", "Delete the user, their library, jobs (unfinished ones "
            "cancelled first) and records; their sockets are closed",
            body=_object({"password": _string("password", 1)}, ["password"]),
            responses={200: _json("Deleted", _message_body(contract.ACCOUNT_DELETED)),
                       400: _messages([], [contract.MISSING_PASSWORD, *wrong_password,
                                           *_typed("password")], body=True),
                       429: password_guess}))},
        "/auth/me/export": {"get": _added(_operation(
            "auth", "exportAccount", "Everything stored about the user, a page at a time",
            parameters=[{"name": "cursor", "in": "query", "required": False,
                         "description": "The previous page's nextCursor",
                         "schema": _string("cursor")}],
            responses={200: _json(
                f"The profile, then the library, the jobs (with their usage) and the voices oldest "
                f"first, about {accounts.EXPORT_PAGE_BYTES // 1_000_000} MB a page",
                _object({"profile": _ref("Profile"),
                         "contents": {"type": "array", "items": _ref("Content")},
                         "jobs": {"type": "array", "items": _ref("Job")},
                         "voices": {"type": "array", "items": _ref("Voice")},
                         "nextCursor": {"type": "string", "nullable": True,
                                        "description": "null on the last page"}},
                        ["profile", "contents", "jobs", "voices", "nextCursor"])),
                       400: _messages([], [contract.INVALID_CURSOR, *_caps("cursor")])}))},
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
                       400: _messages([contract.MISSING_FIELDS, contract.USER_EXISTS],
                                      [contract.INVALID_EMAIL, contract.PASSWORD_TOO_LONG,
                                       contract.PASSWORD_HOLDS_NUL,
                                       *_typed("name", "email", "password")], body=True),
                       429: _throttled([contract.TOO_MANY_REQUESTS])},
            server_error=True)},
        "/auth/login": {"post": _operation(
            "auth", "login", "Login user", public=True,
            body=_object({"email": _string("email"), "password": _string("password")},
                         ["email", "password"]),
            responses={200: _json("Logged in: the user and a token", _ref("Credentials")),
                       400: _messages([], [contract.MISSING_FIELDS,
                                           *_typed("email", "password")], body=True),
                       401: _messages([contract.INVALID_CREDENTIALS]),
                       429: _throttled([contract.TOO_MANY_REQUESTS, contract.LOGIN_LOCKED])},
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
                             "schema": _string("search")}, *_page_parameters()],
                responses={200: _listed("The user's items, newest first", "Content"),
                           400: _messages([], [*_caps("search"), *_page_messages()])}),
            "post": _operation(
                "content", "createContent", "Create new content",
                body=_object({"title": _string("title", 1),
                              "type": _ref("ContentType"),
                              "body": _string("body", 1)}, ["title", "type", "body"]),
                responses={201: _json("The stored item", _ref("Content")),
                           400: _messages([contract.MISSING_FIELDS,
                                           contract.INVALID_CONTENT_TYPE],
                                          [*_typed("title", "type", "body"),
                                           *_library_full()], body=True)},
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
                           400: _messages([], [contract.INVALID_CONTENT_TYPE,
                                               *[contract.cannot_be_empty(name)
                                                 for name in ("title", "type", "body")],
                                               *_typed("title", "type", "body"),
                                               *_library_full()[1:]],
                                          body=True),
                           404: _messages([contract.CONTENT_NOT_FOUND])},
                owner=True, server_error=True),
            "delete": _operation(
                "content", "deleteContent", "Delete content by ID",
                responses={200: _json("The id of the deleted item", _object(
                    {"id": {"type": "string"}}, ["id"])),
                           404: _messages([contract.CONTENT_NOT_FOUND])},
                owner=True, server_error=True),
        },
        "/content/{id}/export": {
            "parameters": [_path_id("id", "MongoDB ObjectId of the content")],
            "get": {**_operation(
                "content", "exportContent", "Download an item as Markdown or sanitised HTML",
                parameters=[{"name": "format", "in": "query", "required": False,
                             "description": "md (the default) or html",
                             "schema": {"type": "string",
                                        "enum": list(contract.EXPORT_FORMATS)}}],
                responses={200: {"description": "The item as a file named from its title "
                                                "(Content-Disposition: attachment)",
                                 "content": {kind.split(";")[0]: {"schema": {"type": "string"}}
                                             for kind in contract.EXPORT_FORMATS.values()}},
                           400: _messages([], [contract.UNKNOWN_FORMAT]),
                           404: _messages([contract.CONTENT_NOT_FOUND])},
                owner=True, server_error=True), "x-addition": True},
        },
        "/content/{id}/rewrite": {
            "parameters": [_path_id("id", "MongoDB ObjectId of the content")],
            "post": {**_operation(
                "content", "rewriteContent", "Queue a job that rewrites the item",
                body=_object({"instruction": {"type": "string",
                                              "enum": list(contract.REWRITES)},
                              "language": {**_string("language"), "description":
                                           "Required to translate"},
                              "note": _string("note")}, ["instruction"]),
                responses={202: _json("Queued, as POST /generate-content; save its result "
                                      "with replace: true to update the item",
                                      _ref("JobQueued")),
                           400: _messages([], [contract.bad_instruction(),
                                               contract.LANGUAGE_TO_TRANSLATE,
                                               contract.TOO_LONG_TO_REWRITE,
                                               *_typed("instruction", "language", "note")],
                                          body=True),
                           404: _messages([contract.CONTENT_NOT_FOUND]),
                           429: _throttled(pattern=contract.GENERATION_LIMITED)},
                owner=True, server_error=True), "x-addition": True},
        },
        **_voice_paths(),
        "/generate-content": {
            "post": _operation(
                "generation", "generateContent", "Queue AI content generation",
                body=_object({"prompt": _string("prompt", 1),
                              "contentType": _ref("ContentType"),
                              "options": _ref("Options")},
                             ["prompt", "contentType"]),
                responses={202: _json("Queued; the result follows after delaySeconds",
                                      _ref("JobQueued")),
                           400: _messages([contract.MISSING_JOB_FIELDS,
                                           contract.invalid_job_content_type()],
                                          [*_typed("prompt", "contentType"),
                                           *_option_messages()], body=True),
                           404: _messages([], [contract.VOICE_NOT_FOUND]),
                           429: _throttled(pattern=contract.GENERATION_LIMITED)},
                server_error=True),
            "get": _operation(
                "generation", "listJobs", "Get all user's generation jobs",
                parameters=_page_parameters(),
                responses={200: _listed("The user's jobs, newest first", "Job"),
                           400: _messages([], _page_messages())}),
        },
        "/generate-content/{jobId}": {
            "parameters": [_path_id("jobId", "UUID of the job (from the queue response)")],
            "get": _operation(
                "generation", "jobStatus", "Get specific job status",
                responses={200: _json("The job's status, and its result once finished",
                                      _ref("JobStatus")),
                           404: _messages([contract.JOB_NOT_FOUND])},
                server_error=True),
        },
        "/generate-content/{jobId}/save": {
            "parameters": [_path_id("jobId", "UUID of the completed job")],
            "post": _operation(
                "generation", "saveJob", "Save generated content to library",
                body=_object({"title": {**_string("title"), "description":
                                        "Defaults to a title derived from the prompt"},
                              "variant": {"type": "integer", "minimum": 1,
                                          "maximum": contract.MAX_VARIANTS, "x-addition": True,
                                          "description": "Which of the job's variants to "
                                                         "save (1 is generatedContent)"},
                              "replace": {"type": "boolean", "x-addition": True,
                                          "description": "true: write a rewrite's result "
                                                         "back into the item it rewrote "
                                                         "(200) instead of a new item"}}, []),
                optional_body=True,
                responses={200: {**_json("A rewrite's result written into its item "
                                         "(replace: true)", _ref("Replaced")),
                                 "x-addition": True},
                           201: _json("Saved to the library", _ref("Saved")),
                           400: _messages([contract.JOB_INCOMPLETE,
                                           contract.NO_GENERATED_CONTENT],
                                          [*_typed("title"), contract.REPLACE_NOT_BOOLEAN,
                                           contract.NOT_A_REWRITE,
                                           *[contract.no_such_variant(count) for count in
                                             range(1, contract.MAX_VARIANTS + 1)],
                                           contract.cannot_be_empty("title"),
                                           *_library_full()], body=True),
                           404: _messages([contract.JOB_NOT_FOUND],
                                          [contract.CONTENT_NOT_FOUND])},
                owner=True, server_error=True),
        },
        "/generate-content/{jobId}/regenerate": {
            "parameters": [_path_id("jobId", "UUID of one of the user's jobs")],
            "post": {**_operation(
                "generation", "regenerateJob", "Queue a new job with the same inputs",
                responses={202: _json("Queued, as POST /generate-content", _ref("JobQueued")),
                           404: _messages([contract.JOB_NOT_FOUND]),
                           429: _throttled(pattern=contract.GENERATION_LIMITED)},
                server_error=True), "x-addition": True},
        },
        "/generate-content/{jobId}/cancel": {
            "parameters": [_path_id("jobId", "UUID of a queued or processing job")],
            "post": {**_operation(
                "generation", "cancelJob", "Stop a queued or processing job",
                responses={200: _json(f"The job, now failed with \"{contract.CANCELLED}\"; "
                                      "job_completed (failed) is emitted",
                                      _ref("JobStatus")),
                           400: _messages([], [contract.JOB_FINISHED]),
                           404: _messages([contract.JOB_NOT_FOUND])},
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


def _page_parameters():
    most = settings.get().max_page_items
    return [{"name": "limit", "in": "query", "required": False, "x-addition": True,
             "description": "A page of at most this many (with cursor, "
                            f"{most} by default); without limit or cursor, the whole list",
             "schema": {"type": "integer", "minimum": 1, "maximum": most}},
            {"name": "cursor", "in": "query", "required": False, "x-addition": True,
             "description": f"The previous page's {contract.NEXT_CURSOR_HEADER} header",
             "schema": _string("cursor")}]


def _page_messages():
    return [contract.bad_limit(settings.get().max_page_items), contract.INVALID_CURSOR,
            *_caps("cursor")]


def _listed(description, item):
    """A list as the contract answers it, and the header of a page's next one."""
    return {**_json(description, {"type": "array", "items": _ref(item)}),
            "headers": {contract.NEXT_CURSOR_HEADER: {
                "x-addition": True, "schema": {"type": "string"},
                "description": "Only on a page (limit or cursor given) that has a next "
                               "one: its cursor"}}}


def _library_full():
    """The library caps' refusals: the items' (a new item only), then the
    characters'."""
    config = settings.get()
    return [contract.library_items_full(config.max_library_items_per_user),
            contract.library_characters_full(config.max_library_characters_per_user)]


def _option_messages():
    return [contract.OPTIONS_NOT_AN_OBJECT, contract.unknown_option(), contract.BAD_LENGTH,
            contract.BAD_VARIANTS, contract.BAD_PLATFORM,
            *[contract.option_only_for(name) for name in contract.option_names()
              if name not in contract.COMMON_OPTIONS],
            *_typed(*options.FREE_TEXT, "length", "platform"),
            *[message for name, item, most in options.LISTS
              for message in (contract.not_a_list(name), contract.too_many_items(name, most),
                              contract.item_too_long(name, validation.LIMITS[item]),
                              contract.not_text(name))]]


def _options_schema():
    def listed(item, most):
        return {"type": "array", "maxItems": most, "items": _string(item)}

    kinds = {name: [kind.name for kind in contract.CONTENT_TYPES.values()
                    if name in kind.options]
             for name in contract.option_names() if name not in contract.COMMON_OPTIONS}
    only = {name: " or ".join(names) + " only" for name, names in kinds.items()}
    properties = {
        "tone": {**_string("tone"), "x-named": list(contract.TONES),
                 "description": "One of " + ", ".join(contract.TONES) + ", or free text"},
        "length": {"type": "string", "enum": list(contract.LENGTHS),
                   "x-words": {kind.name: dict(kind.words)
                               for kind in contract.CONTENT_TYPES.values()}},
        "language": _string("language"), "audience": _string("audience"),
        "keywords": listed("keyword", contract.MAX_KEYWORDS),
        "variants": {"type": "integer", "minimum": 1, "maximum": contract.MAX_VARIANTS,
                     "description": "Each variant is a paid call and takes a limit slot"},
        "voiceId": {**_string("voiceId"), "description": "One of the user's /voices"},
        "productName": {**_string("productName"), "description": only["productName"]},
        "features": {**listed("feature", contract.MAX_FEATURES),
                     "description": only["features"]},
        "platform": {"type": "string", "enum": list(contract.PLATFORMS),
                     "x-limits": {key: {"name": name, "characters": limit}
                                  for key, (name, limit) in contract.PLATFORMS.items()},
                     "description": only["platform"] + "; the caption is cut at a word to "
                                                        "the platform's limit"}}
    for name, names in kinds.items():
        properties[name]["x-content-types"] = names
    return {**_object(properties, []), "additionalProperties": False, "x-addition": True}


def _voice_paths():
    body = _object({"name": _string("name", 1), "description": _string("description"),
                    "samples": {"type": "array", "maxItems": contract.MAX_SAMPLES,
                                "items": _string("sample")}}, [])
    invalid = [contract.VOICE_NAME_REQUIRED, *_typed("name", "description"),
               contract.not_a_list("samples"),
               contract.too_many_items("samples", contract.MAX_SAMPLES),
               contract.item_too_long("samples", validation.LIMITS["sample"]),
               contract.not_text("samples")]
    missing = _messages([], [contract.VOICE_NOT_FOUND])
    return {
        "/voices": {
            "get": {**_operation("voices", "listVoices", "The user's brand voices, newest first",
                                 responses={200: _json("The voices", {
                                     "type": "array", "items": _ref("Voice")})}),
                    "x-addition": True},
            "post": {**_operation(
                "voices", "createVoice", "Create a brand voice",
                body={**body, "required": ["name"]},
                responses={201: _json("The stored voice", _ref("Voice")),
                           400: _messages([], [*invalid, contract.TOO_MANY_VOICES], body=True)},
                server_error=True), "x-addition": True},
        },
        "/voices/{id}": {
            "parameters": [_path_id("id", "MongoDB ObjectId of the voice")],
            "put": {**_operation(
                "voices", "updateVoice", "Change a brand voice's named fields",
                body=body, optional_body=True,
                responses={200: _json("The changed voice", _ref("Voice")),
                           400: _messages([], invalid, body=True), 404: missing},
                server_error=True), "x-addition": True},
            "delete": {**_operation(
                "voices", "deleteVoice", "Delete a brand voice",
                responses={200: _json("The id of the deleted voice", _object(
                    {"id": {"type": "string"}}, ["id"])), 404: missing},
                server_error=True), "x-addition": True},
        },
    }


def _operation(tag, operation_id, summary, responses, body=None, optional_body=False,
               parameters=None, public=False, owner=False, server_error=False):
    documented = {str(status): response for status, response in responses.items()}
    if not public:
        documented["401"] = _messages(
            [contract.NO_TOKEN, contract.NOT_AUTHORIZED, contract.USER_NOT_FOUND,
             *([contract.NOT_OWNER] if owner else [])])
    if body is not None:
        documented["413"] = _messages([], [contract.BODY_TOO_LARGE], addition=True)
        documented["415"] = _messages([], [contract.WRONG_MEDIA_TYPE], addition=True)
    if server_error:
        documented["500"] = _messages([contract.SERVER_ERROR])
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


def _messages(agreed, additions=(), body=False, addition=False):
    """A `{"message"}` response whose message is one of the listed ones: the
    contract's, then those beyond it."""
    if body:
        additions = [*additions, contract.MALFORMED_JSON, contract.NOT_AN_OBJECT,
                     contract.TOO_DEEP, contract.REPEATED_KEY, contract.NUMBER_OUT_OF_RANGE,
                     contract.BAD_REQUEST]
    lines = [f"`{message}`" for message in agreed]
    lines += [f"`{message}` (beyond the contract)" for message in additions]
    response = {"description": "; ".join(lines), "content": {"application/json": {
        "schema": {"allOf": [_ref("Error"),
                             {"properties": {"message": {"enum": [*agreed, *additions]}}}]}}}}
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
            for message in (contract.not_a_string(name), *_caps(name))]


def _caps(name):
    """What a string field or parameter is refused for beyond its type."""
    return [contract.too_long(name, validation.LIMITS[name]), contract.not_text(name)]


def _string(name, min_length=0, string_format=None):
    schema = {"type": "string", "maxLength": validation.LIMITS[name]}
    if min_length:
        schema["minLength"] = min_length
    if string_format:
        schema["format"] = string_format
    return schema


def _path_id(name, description):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _json(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}
