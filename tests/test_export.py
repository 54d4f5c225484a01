"""Exporting a library item (an addition): Markdown as written, or
sanitised HTML, downloaded under a name taken from its title."""
ITEM = {"title": "Premium Wireless Headphones", "type": "Product Description",
        "body": "Experience crystal-clear audio."}

MARKDOWN = ("# Launch <script>alert('x')</script>\n\n"
            "Some **bold** text and a [link](javascript:alert(1)).\n\n"
            "<img src=x onerror=alert(1)>\n\n- one\n- two\n")


def create(api, user, **fields):
    response = api.post("/content", token=user["token"], json={**ITEM, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_markdown_export_is_the_body_as_an_attachment_named_from_the_title(api, user):
    item = create(api, user, title="Spring launch: café notes", body=MARKDOWN)
    response = api.get(f"/content/{item['_id']}/export?format=md", token=user["token"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"spring-launch-cafe-notes.md\"; "
        "filename*=UTF-8''Spring%20launch%3A%20caf%C3%A9%20notes.md")
    assert response.text == MARKDOWN


def test_export_without_a_format_is_markdown(api, user):
    item = create(api, user, body=MARKDOWN)
    response = api.get(f"/content/{item['_id']}/export", token=user["token"])
    assert response.status_code == 200
    assert response.text == MARKDOWN


def test_html_export_renders_the_markdown_and_runs_no_script(api, user):
    item = create(api, user, title="Launch <b>day</b>", body=MARKDOWN)
    response = api.get(f"/content/{item['_id']}/export?format=html", token=user["token"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith(
        "attachment; filename=\"launch-b-day-b.html\";")
    assert response.text == (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>Launch &lt;b&gt;day&lt;/b&gt;</title>\n</head>\n<body>\n"
        "<h1>Launch &lt;script&gt;alert('x')&lt;/script&gt;</h1>\n"
        "<p>Some <strong>bold</strong> text and a [link](javascript:alert(1)).</p>\n"
        "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"
        "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n</body>\n</html>\n")


def test_export_in_an_unknown_format_is_400(api, user):
    item = create(api, user)
    response = api.get(f"/content/{item['_id']}/export?format=pdf", token=user["token"])
    assert response.status_code == 400
    assert response.json() == {"message": "format must be one of: md, html"}


def test_export_of_another_users_item_is_401_as_for_any_item(api, user, other_user):
    item = create(api, user)
    response = api.get(f"/content/{item['_id']}/export", token=other_user["token"])
    assert response.status_code == 401
    assert response.json() == {"message": "User not authorized"}


def test_export_of_a_missing_item_is_404(api, user):
    response = api.get("/content/0123456789abcdef01234567/export", token=user["token"])
    assert response.status_code == 404
    assert response.json() == {"message": "Content not found"}
