"""Every error is `{"message"}` JSON, whatever the client sent (decision 7)."""


def test_malformed_json_is_400(api, user):
    response = api.post("/content", token=user["token"], data="{not json",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"message": "Malformed JSON body"}


def test_a_json_array_body_is_400(api):
    response = api.post("/auth/register", json=["name", "email"])
    assert response.status_code == 400
    assert response.json() == {"message": "Request body must be a JSON object"}


def test_a_wrong_content_type_is_415(api):
    response = api.post("/auth/login", data="email=a&password=b",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert response.json() == {"message": "Content-Type must be application/json"}


def test_an_oversized_body_is_413(api, user):
    response = api.post("/content", token=user["token"],
                        json={"title": "big", "type": "Blog Post Outline",
                              "body": "x" * (300 * 1024)})
    assert response.status_code == 413
    assert response.json() == {"message": "Request body too large"}


def test_an_unknown_route_is_404(api):
    response = api.get("/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found"}


def test_a_wrong_method_is_405(api, user):
    response = api.request("PATCH", "/content", token=user["token"], json={})
    assert response.status_code == 405
    assert response.json() == {"message": "Method not allowed"}


def test_an_id_holding_an_encoded_question_mark_reaches_its_own_route(api, user):
    response = api.post("/generate-content/job%3Fsave/save", token=user["token"], json={})
    assert response.status_code == 404
    assert response.json() == {"message": "Job not found"}


def test_cors_preflight_names_the_configured_origin(api):
    response = api.request("OPTIONS", "/content", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_cors_headers_are_on_error_responses_too(api):
    response = api.get("/auth/me", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_errors_are_json(api):
    response = api.get("/auth/me")
    assert response.headers["Content-Type"] == "application/json"
