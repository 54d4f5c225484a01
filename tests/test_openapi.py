"""The OpenAPI document: it names exactly the app's routes, validates as
OpenAPI 3, marks what the contract does not define, and is served with a
human-readable page."""
import re

import pytest
from openapi_spec_validator import validate

from chalicelib import openapi

CONTRACT = {("POST", "/auth/register"), ("POST", "/auth/login"), ("GET", "/auth/me"),
            ("GET", "/content"), ("POST", "/content"), ("PUT", "/content/{}"),
            ("DELETE", "/content/{}"), ("POST", "/generate-content"),
            ("GET", "/generate-content"), ("GET", "/generate-content/{}"),
            ("POST", "/generate-content/{}/save")}
METHODS = {"get", "put", "post", "delete", "patch"}


def shape(path):
    """A path with its parameters' names left out: the app says {content_id},
    the contract (and the document) {id}."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def described(document):
    return {(method.upper(), shape(path)): operation
            for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS}


@pytest.fixture(scope="module")
def document():
    return openapi.document()


def test_the_document_names_every_route_of_the_app_and_no_other(document):
    from app import app
    routes = {(method, shape(path)) for path, entries in app.routes.items()
              for method in entries}
    assert set(described(document)) == routes


def test_the_document_validates_as_openapi_3(document):
    validate(document)


def test_only_the_contracts_operations_are_unmarked_and_the_rest_are_additions(document):
    operations = described(document)
    assert {key for key, operation in operations.items()
            if not operation.get("x-addition")} == CONTRACT


def test_protected_operations_need_the_bearer_token_and_auth_ones_do_not(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    public = {key for key, operation in described(document).items()
              if operation.get("security") == []}
    assert public & CONTRACT == {("POST", "/auth/register"), ("POST", "/auth/login")}


def test_every_error_response_is_a_message_body(document):
    for operation in described(document).values():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}


def test_contract_rows_are_described_with_their_messages(document):
    register = document["paths"]["/auth/register"]["post"]["responses"]
    assert {"Please provide all fields", "User already exists"} <= set(
        register["400"]["content"]["application/json"]["schema"]["allOf"][1]
        ["properties"]["message"]["enum"])
    save = document["paths"]["/generate-content/{jobId}/save"]["post"]["responses"]
    assert "Cannot save content from incomplete job" in \
        save["400"]["content"]["application/json"]["schema"]["allOf"][1]["properties"][
            "message"]["enum"]


def test_an_option_of_some_content_types_names_them(document):
    options = document["components"]["schemas"]["Options"]["properties"]
    assert {name: option["x-content-types"] for name, option in options.items()
            if "x-content-types" in option} == {
        "productName": ["Product Description"], "features": ["Product Description"],
        "platform": ["Social Media Caption"]}


def test_openapi_json_is_served_without_a_token(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {**openapi.document(), "servers": [{"url": "/"}]}


def test_the_docs_page_renders_the_document_with_the_vendored_renderer(api):
    page = api.get("/docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<redoc spec-url="openapi.json">' in page.text
    assert '<script src="docs/redoc.standalone.js">' in page.text
    script = api.get("/docs/redoc.standalone.js")
    assert script.status_code == 200
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.text == openapi.REDOC.read_text()
