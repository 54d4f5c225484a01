"""Section 5 of the contract: the content library."""
import re
import time

import pytest

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ITEM = {"title": "Premium Wireless Headphones", "type": "Product Description",
        "body": "Experience crystal-clear audio.\n\n- 40-hour battery life"}


def create(api, user, **fields):
    response = api.post("/content", token=user["token"], json={**ITEM, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_201_with_the_stored_document(api, user):
    response = api.post("/content", token=user["token"], json=ITEM)
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["_id", "userId", "title", "type", "body", "createdAt",
                          "updatedAt", "__v"]
    assert re.fullmatch(r"[0-9a-f]{24}", body["_id"])
    assert body["userId"] == user["_id"]
    assert (body["title"], body["type"], body["body"]) == (ITEM["title"], ITEM["type"],
                                                           ITEM["body"])
    assert ISO.match(body["createdAt"]) and body["createdAt"] == body["updatedAt"]
    assert body["__v"] == 0


def test_create_without_a_field_is_400_please_provide_all_fields(api, user):
    for missing in ("title", "type", "body"):
        fields = dict(ITEM)
        del fields[missing]
        response = api.post("/content", token=user["token"], json=fields)
        assert response.status_code == 400
        assert response.json() == {"message": "Please provide all fields"}


def test_create_with_an_unknown_type_is_400_invalid_content_type(api, user):
    response = api.post("/content", token=user["token"], json={**ITEM, "type": "Poem"})
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid content type"}


def test_create_with_a_non_string_field_is_400(api, user):
    response = api.post("/content", token=user["token"], json={**ITEM, "title": ["x"]})
    assert response.status_code == 400
    assert response.json() == {"message": "title must be a string"}


def test_create_with_an_overlong_title_is_400(api, user):
    response = api.post("/content", token=user["token"], json={**ITEM, "title": "t" * 201})
    assert response.status_code == 400
    assert response.json() == {"message": "title must be at most 200 characters"}


def test_create_without_a_token_is_401_not_authorized_no_token(api):
    response = api.post("/content", json=ITEM)
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}


def test_list_returns_only_own_items_newest_first(api, user, other_user):
    first = create(api, user, title="First")
    time.sleep(0.01)
    second = create(api, user, title="Second")
    create(api, other_user, title="Not mine")
    response = api.get("/content", token=user["token"])
    assert response.status_code == 200
    assert response.json() == [second, first]


def test_search_matches_title_type_and_body_case_insensitively(api, user):
    by_title = create(api, user, title="Summer MARKETING campaign")
    by_body = create(api, user, title="Other", body="all about marketing")
    by_type = create(api, user, title="Caption", type="Social Media Caption")
    create(api, user, title="Unrelated", body="nothing here")
    response = api.get("/content", token=user["token"], params={"search": "marketing"})
    assert response.json() == [by_body, by_title]
    response = api.get("/content", token=user["token"], params={"search": "social media"})
    assert response.json() == [by_type]


def test_search_is_literal_not_a_regular_expression(api, user):
    literal = create(api, user, title="Regex .* inside")
    create(api, user, title="Plain title")
    response = api.get("/content", token=user["token"], params={"search": ".*"})
    assert response.json() == [literal]


def test_update_changes_the_named_fields_and_updated_at(api, user):
    item = create(api, user)
    time.sleep(0.01)
    response = api.put(f"/content/{item['_id']}", token=user["token"],
                       json={"title": "Updated title", "body": "Updated body"})
    assert response.status_code == 200
    body = response.json()
    assert body == {**item, "title": "Updated title", "body": "Updated body",
                    "updatedAt": body["updatedAt"]}
    assert body["updatedAt"] > item["updatedAt"]


def test_update_cannot_move_the_item_to_another_user(api, user, other_user):
    item = create(api, user)
    response = api.put(f"/content/{item['_id']}", token=user["token"],
                       json={"userId": other_user["_id"], "_id": "0" * 24, "title": "Mine"})
    assert response.status_code == 200
    assert response.json()["userId"] == user["_id"]
    assert response.json()["_id"] == item["_id"]


def test_update_with_an_unknown_type_is_400_and_changes_nothing(api, user):
    item = create(api, user)
    response = api.put(f"/content/{item['_id']}", token=user["token"], json={"type": "Poem"})
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid content type"}
    assert api.get("/content", token=user["token"]).json() == [item]


@pytest.mark.parametrize("field", ["title", "type", "body"])
@pytest.mark.parametrize("value", [None, 7, ["x"]])
def test_update_with_a_null_or_non_string_field_is_400_and_changes_nothing(api, user, field,
                                                                           value):
    item = create(api, user)
    response = api.put(f"/content/{item['_id']}", token=user["token"], json={field: value})
    assert response.status_code == 400
    assert response.json() == {"message": f"{field} must be a string"}
    assert api.get("/content", token=user["token"]).json() == [item]


def test_create_with_a_null_field_is_400_please_provide_all_fields(api, user):
    response = api.post("/content", token=user["token"], json={**ITEM, "body": None})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide all fields"}


def test_update_of_a_missing_item_is_404_content_not_found(api, user):
    response = api.put("/content/0123456789abcdef01234567", token=user["token"],
                       json={"title": "x"})
    assert response.status_code == 404
    assert response.json() == {"message": "Content not found"}


def test_update_with_a_malformed_id_is_404_content_not_found(api, user):
    response = api.put("/content/not-an-id", token=user["token"], json={"title": "x"})
    assert response.status_code == 404
    assert response.json() == {"message": "Content not found"}


def test_update_of_another_users_item_is_401_user_not_authorized(api, user, other_user):
    item = create(api, user)
    response = api.put(f"/content/{item['_id']}", token=other_user["token"],
                       json={"title": "stolen"})
    assert response.status_code == 401
    assert response.json() == {"message": "User not authorized"}
    assert api.get("/content", token=user["token"]).json() == [item]


def test_delete_returns_the_id_and_removes_the_item(api, user):
    item = create(api, user)
    response = api.delete(f"/content/{item['_id']}", token=user["token"])
    assert response.status_code == 200
    assert response.json() == {"id": item["_id"]}
    assert api.get("/content", token=user["token"]).json() == []


def test_delete_of_a_missing_item_is_404_content_not_found(api, user):
    response = api.delete("/content/0123456789abcdef01234567", token=user["token"])
    assert response.status_code == 404
    assert response.json() == {"message": "Content not found"}


def test_delete_with_a_malformed_id_is_404_content_not_found(api, user):
    response = api.delete("/content/%7B%22$gt%22%7D", token=user["token"])
    assert response.status_code == 404
    assert response.json() == {"message": "Content not found"}


def test_delete_of_another_users_item_is_401_and_keeps_it(api, user, other_user):
    item = create(api, user)
    response = api.delete(f"/content/{item['_id']}", token=other_user["token"])
    assert response.status_code == 401
    assert response.json() == {"message": "User not authorized"}
    assert api.get("/content", token=user["token"]).json() == [item]
