"""Section 4 of the contract: register, login, me."""
import base64
import json
import threading
import time

import jwt

from tests.support import JWT_SECRET


def test_register_returns_201_with_id_name_email_and_token(api):
    response = api.post("/auth/register", json={"name": "John Doe",
                                                "email": "john.register@example.com",
                                                "password": "securePassword123"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["_id", "name", "email", "token"]
    assert len(body["_id"]) == 24 and int(body["_id"], 16) >= 0
    assert body["name"] == "John Doe"
    assert body["email"] == "john.register@example.com"


def test_token_is_hs256_with_id_iat_and_thirty_day_exp(api, user):
    header = json.loads(base64.urlsafe_b64decode(user["token"].split(".")[0] + "=="))
    claims = jwt.decode(user["token"], JWT_SECRET, algorithms=["HS256"], audience="test")
    assert header["alg"] == "HS256"
    # The contract's claims, and the additions that make it revocable.
    assert set(claims) == {"id", "iat", "exp", "gen", "sid", "aud"}
    assert claims["id"] == user["_id"]
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert abs(claims["iat"] - time.time()) < 60


def test_register_without_a_field_is_400_please_provide_all_fields(api):
    for missing in ("name", "email", "password"):
        body = {"name": "A", "email": "missing@example.com", "password": "pw"}
        del body[missing]
        response = api.post("/auth/register", json=body)
        assert response.status_code == 400
        assert response.json() == {"message": "Please provide all fields"}


def test_register_with_empty_fields_is_400_please_provide_all_fields(api):
    response = api.post("/auth/register", json={"name": " ", "email": "", "password": ""})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide all fields"}


def test_register_with_null_fields_is_400_please_provide_all_fields(api):
    response = api.post("/auth/register", json={"name": None, "email": "null@example.com",
                                                 "password": "pw"})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide all fields"}


def test_register_with_an_existing_email_is_400_user_already_exists(api, user):
    response = api.post("/auth/register", json={"name": "Again", "email": user["email"],
                                                "password": "other"})
    assert response.status_code == 400
    assert response.json() == {"message": "User already exists"}


def test_emails_are_normalised_so_case_does_not_make_a_new_user(api, user):
    response = api.post("/auth/register", json={"name": "Again",
                                                "email": user["email"].upper(),
                                                "password": "other"})
    assert response.status_code == 400
    assert response.json() == {"message": "User already exists"}


def test_register_with_an_invalid_email_is_400(api):
    response = api.post("/auth/register", json={"name": "A", "email": "not-an-email",
                                                "password": "pw"})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide a valid email"}


def test_register_with_a_non_string_field_is_400_and_stores_nothing(api):
    response = api.post("/auth/register", json={"name": "A", "email": {"$gt": ""},
                                                "password": "pw"})
    assert response.status_code == 400
    assert response.json() == {"message": "email must be a string"}


def test_register_with_an_overlong_password_is_400(api):
    response = api.post("/auth/register", json={"name": "A", "email": "long@example.com",
                                                "password": "x" * 73})
    assert response.status_code == 400
    assert response.json() == {"message": "password must be at most 72 bytes"}


def test_two_racing_registrations_give_one_201_and_one_user_already_exists(api):
    email = f"race-{time.monotonic_ns()}@example.com"
    statuses = []

    def register():
        response = api.post("/auth/register", json={"name": "R", "email": email,
                                                    "password": "pw"})
        statuses.append((response.status_code, response.json()))

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in statuses) == [201, 400]
    assert {"message": "User already exists"} in [body for _, body in statuses]


def test_login_returns_200_with_id_name_email_and_token(api, user):
    response = api.post("/auth/login", json={"email": user["email"],
                                             "password": user["password"]})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["_id", "name", "email", "token"]
    assert (body["_id"], body["name"], body["email"]) == (user["_id"], user["name"],
                                                          user["email"])
    assert api.get("/auth/me", token=body["token"]).status_code == 200


def test_login_accepts_the_email_in_any_case(api, user):
    response = api.post("/auth/login", json={"email": user["email"].upper(),
                                             "password": user["password"]})
    assert response.status_code == 200


def test_login_with_a_wrong_password_is_401_invalid_credentials(api, user):
    response = api.post("/auth/login", json={"email": user["email"], "password": "wrong"})
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid credentials"}


def test_login_with_an_unknown_email_is_401_invalid_credentials(api):
    response = api.post("/auth/login", json={"email": "nobody@example.com", "password": "x"})
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid credentials"}


def test_login_with_an_operator_instead_of_an_email_is_400(api, user):
    response = api.post("/auth/login", json={"email": {"$ne": ""}, "password": "x"})
    assert response.status_code == 400
    assert response.json() == {"message": "email must be a string"}


def test_login_without_fields_is_400_please_provide_all_fields(api):
    response = api.post("/auth/login", json={})
    assert response.status_code == 400
    assert response.json() == {"message": "Please provide all fields"}


def test_me_returns_the_profile_without_the_password(api, user):
    response = api.get("/auth/me", token=user["token"])
    assert response.status_code == 200
    assert response.json() == {"_id": user["_id"], "name": user["name"],
                               "email": user["email"], "status": "active", "__v": 0}


def test_me_without_a_token_is_401_not_authorized_no_token(api):
    response = api.get("/auth/me")
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}


def test_me_with_a_non_bearer_header_is_401_not_authorized_no_token(api, user):
    response = api.get("/auth/me", headers={"Authorization": f"Basic {user['token']}"})
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized, no token"}


def test_me_with_a_garbled_token_is_401_not_authorized(api):
    response = api.get("/auth/me", token="not.a.token")
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized"}


def test_me_with_an_expired_token_is_401_not_authorized(api, user):
    past = int(time.time()) - 3600
    token = jwt.encode({"id": user["_id"], "iat": past - 10, "exp": past}, JWT_SECRET,
                       algorithm="HS256")
    response = api.get("/auth/me", token=token)
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized"}


def test_me_with_an_alg_none_token_is_401_not_authorized(api, user):
    now = int(time.time())
    token = jwt.encode({"id": user["_id"], "iat": now, "exp": now + 60}, None,
                       algorithm="none")
    response = api.get("/auth/me", token=token)
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized"}


def test_me_with_a_token_signed_by_another_key_is_401_not_authorized(api, user):
    now = int(time.time())
    token = jwt.encode({"id": user["_id"], "iat": now, "exp": now + 60},
                       "some-other-secret-of-sufficient-length!!", algorithm="HS256")
    response = api.get("/auth/me", token=token)
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized"}


def test_me_for_a_deleted_user_is_401_user_not_found(api):
    now = int(time.time())
    token = jwt.encode({"id": "0123456789abcdef01234567", "iat": now, "exp": now + 60},
                       JWT_SECRET, algorithm="HS256")
    response = api.get("/auth/me", token=token)
    assert response.status_code == 401
    assert response.json() == {"message": "User not found"}


def test_an_inactive_user_is_refused(api, user):
    from chalicelib import db
    db.get().users.update_one({"email": user["email"]}, {"$set": {"status": "inactive"}})
    response = api.get("/auth/me", token=user["token"])
    assert response.status_code == 401
    assert response.json() == {"message": "Not authorized"}
    login = api.post("/auth/login", json={"email": user["email"], "password": user["password"]})
    assert login.status_code == 401
    assert login.json() == {"message": "Invalid credentials"}


def test_no_response_carries_the_password_hash(api, user):
    responses = [api.post("/auth/login", json={"email": user["email"],
                                               "password": user["password"]}),
                 api.get("/auth/me", token=user["token"])]
    for response in responses:
        assert "$2b$" not in response.text
        assert "password" not in response.json()
