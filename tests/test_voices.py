"""Brand voices (an addition): each user's own, capped, and 404 to anyone else."""
import re

import pytest

VOICE = {"name": "Warm expert", "description": "Confident, warm, no jargon.",
         "samples": ["We make tea the slow way.", "Good things take time."]}


def create(api, user, **fields):
    response = api.post("/voices", token=user["token"], json={**VOICE, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_201_with_the_stored_voice(api, user):
    response = api.post("/voices", token=user["token"], json=VOICE)
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["_id", "name", "description", "samples", "createdAt", "updatedAt"]
    assert re.fullmatch(r"[0-9a-f]{24}", body["_id"])
    assert (body["name"], body["description"], body["samples"]) == (
        VOICE["name"], VOICE["description"], VOICE["samples"])


def test_a_voice_needs_only_a_name(api, user):
    response = api.post("/voices", token=user["token"], json={"name": "Plain"})
    assert response.status_code == 201
    assert (response.json()["description"], response.json()["samples"]) == ("", [])


def test_list_returns_only_own_voices_newest_first(api, user, other_user):
    first = create(api, user, name="First")
    second = create(api, user, name="Second")
    create(api, other_user, name="Not mine")
    response = api.get("/voices", token=user["token"])
    assert response.status_code == 200
    assert response.json() == [second, first]


def test_create_without_a_name_is_400(api, user):
    response = api.post("/voices", token=user["token"], json={"name": " "})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide name"}


@pytest.mark.parametrize("samples, message", [
    (["a", "b", "c", "d"], "samples must have at most 3 items"),
    ("one text", "samples must be a list of strings"),
    ([{"$gt": ""}], "samples must be a list of strings"),
    (["x" * 3001], "each of samples must be at most 3000 characters"),
])
def test_create_with_bad_samples_is_400_and_stores_nothing(api, user, samples, message):
    response = api.post("/voices", token=user["token"], json={**VOICE, "samples": samples})
    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert api.get("/voices", token=user["token"]).json() == []


def test_an_overlong_description_is_400(api, user):
    response = api.post("/voices", token=user["token"],
                        json={**VOICE, "description": "d" * 1001})
    assert response.status_code == 400
    assert response.json() == {"message": "description must be at most 1000 characters"}


def test_a_user_has_at_most_twenty_voices(api, user):
    for number in range(20):
        create(api, user, name=f"Voice {number}")
    response = api.post("/voices", token=user["token"], json=VOICE)
    assert response.status_code == 400
    assert response.json() == {"message": "Voice limit reached: at most 20 voices"}


def test_update_changes_the_named_fields(api, user):
    voice = create(api, user)
    response = api.put(f"/voices/{voice['_id']}", token=user["token"],
                       json={"samples": ["Only this one."]})
    assert response.status_code == 200
    body = response.json()
    assert body["samples"] == ["Only this one."] and body["name"] == VOICE["name"]
    assert body["updatedAt"] >= voice["updatedAt"]


def test_update_with_a_blank_name_is_400_and_changes_nothing(api, user):
    voice = create(api, user)
    response = api.put(f"/voices/{voice['_id']}", token=user["token"], json={"name": ""})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide name"}
    assert api.get("/voices", token=user["token"]).json() == [voice]


def test_delete_returns_the_id_and_removes_the_voice(api, user):
    voice = create(api, user)
    response = api.delete(f"/voices/{voice['_id']}", token=user["token"])
    assert response.status_code == 200
    assert response.json() == {"id": voice["_id"]}
    assert api.get("/voices", token=user["token"]).json() == []


@pytest.mark.parametrize("method", ["put", "delete"])
def test_another_users_voice_is_404_and_unchanged(api, user, other_user, method):
    voice = create(api, user)
    response = getattr(api, method)(f"/voices/{voice['_id']}", token=other_user["token"],
                                    json={"name": "Taken"})
    assert response.status_code == 404
    assert response.json() == {"message": "Voice not found"}
    assert api.get("/voices", token=user["token"]).json() == [voice]


@pytest.mark.parametrize("voice_id", ["0123456789abcdef01234567", "not-an-id"])
def test_an_unknown_or_malformed_voice_is_404(api, user, voice_id):
    response = api.delete(f"/voices/{voice_id}", token=user["token"])
    assert response.status_code == 404
    assert response.json() == {"message": "Voice not found"}


def test_voices_need_a_token(api):
    response = api.get("/voices")
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}


def test_an_id_that_is_a_line_break_is_404_not_another_route(api, user):
    response = api.put("/voices/%0A", token=user["token"], json={"name": "x"})
    assert response.status_code == 404
    assert response.json() == {"message": "Voice not found"}
