"""Every route of the review app over HTTP: blind order, escaping, origin and token checks, concurrency."""

from __future__ import annotations

import http.client
import json
import re
import threading
from urllib.parse import urlencode

import pytest

from honed.errors import UserError
from honed.review import make_review_server


def request(server, method: str, path: str, form: dict | None = None, headers: dict | None = None):
    port = server.server_address[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = urlencode(form) if form is not None else None
    sent = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    connection.request(method, path, body=body, headers={**sent, **(headers or {})})
    response = connection.getresponse()
    data = response.read().decode()
    connection.close()
    return response.status, response.headers, data  # case-insensitive, as HTTP header names are


def same_origin(server) -> dict:
    return {"Origin": f"http://127.0.0.1:{server.server_address[1]}"}


def rating_form(page: str, choice: str, **extra) -> dict:
    fields = dict(re.findall(r'<input type=hidden name=(\w+) value="([^"]*)"', page))
    fields.pop("choice", None)
    return {**{k: v.replace("&amp;", "&") for k, v in fields.items()}, "choice": choice, **extra}


def test_pages_escape_model_output_and_show_progress(review_server):
    server = review_server()
    status, _, start = request(server, "GET", "/")
    assert status == 200 and "Your name" in start
    status, _, page = request(server, "GET", "/review?reviewer=ann")
    assert status == 200
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;123&lt;/b&gt;" in page  # prompts are text too
    assert 'value="0" max="3"' in page and "0 of 3 rated" in page


def test_rating_is_stored_blind_and_progress_resumes(review_server, store):
    server = review_server()
    _, _, page = request(server, "GET", "/review?reviewer=ann")
    a_left = store.a_on_left(1, "ann")
    assert page.index("A says") < page.index("B says") if a_left else page.index("B says") < page.index("A says")
    status, headers, _ = request(server, "POST", "/rate", rating_form(page, "left", left_tone="4", comment="ok"),
                                 same_origin(server))
    assert status == 303 and headers["Location"].startswith("/review?reviewer=ann")
    [row] = store.ratings()
    assert row["choice"] == ("a" if a_left else "b") and row["a_left"] == int(a_left)
    assert row[("a" if a_left else "b") + "_tone"] == 4 and row["comment"] == "ok"
    _, _, page = request(server, "GET", "/review?reviewer=ann")  # a new visit resumes at item 2
    assert "How do I reset my password?" in page and "1 of 3 rated" in page
    _, _, other = request(server, "GET", "/review?reviewer=bob")  # another reviewer starts at the beginning
    assert "0 of 3 rated" in other


@pytest.mark.parametrize(("change", "status"), [
    ({"choice": "middle"}, 400),
    ({"item_id": "99"}, 404),
    ({"item_id": "x"}, 400),
    ({"left_tone": "7"}, 400),
    ({"form_token": "forged"}, 403),
    ({"reviewer": ""}, 400),
])
def test_invalid_posts_are_refused(review_server, store, change, status):
    server = review_server()
    _, _, page = request(server, "GET", "/review?reviewer=ann")
    form = {**rating_form(page, "left"), **change}
    assert request(server, "POST", "/rate", form, same_origin(server))[0] == status
    assert store.ratings() == []


def test_cross_origin_and_origin_less_posts_are_refused(review_server, store):
    server = review_server()
    _, _, page = request(server, "GET", "/review?reviewer=ann")
    form = rating_form(page, "left")
    assert request(server, "POST", "/rate", form, {"Origin": "http://evil.example"})[0] == 403
    assert request(server, "POST", "/rate", form)[0] == 403
    assert request(server, "GET", "/nope")[0] == 404
    assert store.ratings() == []


def test_token_guards_every_request_and_is_required_beyond_loopback(review_server, store):
    with pytest.raises(UserError, match="--token"):
        make_review_server(store, "0.0.0.0", 0)
    server = review_server(token="s3cret")
    assert request(server, "GET", "/")[0] == 401
    assert request(server, "GET", "/results.json")[0] == 401
    status, headers, page = request(server, "GET", "/?token=s3cret")
    assert status == 200 and "honed_review_token=s3cret" in headers["Set-Cookie"]
    assert request(server, "GET", "/review?reviewer=ann", headers={"Cookie": "honed_review_token=s3cret"})[0] == 200


def test_results_json_csv_and_page(review_server, store):
    server = review_server()
    for reviewer in ("ann", "bob"):
        for _ in range(3):
            _, _, page = request(server, "GET", f"/review?reviewer={reviewer}")
            assert request(server, "POST", "/rate", rating_form(page, "tie" if reviewer == "bob" else "left"),
                           same_origin(server))[0] == 303
    status, _, body = request(server, "GET", "/results.json")
    summary = json.loads(body)
    assert status == 200 and summary["ratings"] == 6 and summary["counts"]["tie"] == 3
    assert summary["labels"] == {"a": "support-lora", "b": "base"}
    assert summary["agreement"]["method"] == "cohen" and summary["agreement"]["overlap"] == 3
    status, _, csv_text = request(server, "GET", "/results.csv")
    assert status == 200 and csv_text.splitlines()[0].startswith("item_id,reviewer,choice,winner")
    assert len(csv_text.strip().splitlines()) == 7
    status, _, page = request(server, "GET", "/results")
    assert status == 200 and "Wilson" in page and "kappa" in page


def test_two_reviewers_posting_at_once_lose_nothing(review_server, store):
    server = review_server()
    errors = []

    def review(name: str):
        try:
            for _ in range(3):
                _, _, page = request(server, "GET", f"/review?reviewer={name}")
                status = request(server, "POST", "/rate", rating_form(page, "right"), same_origin(server))[0]
                assert status == 303
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=review, args=(f"reviewer{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.ratings()) == 12
