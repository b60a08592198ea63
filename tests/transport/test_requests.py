"""The transport (jenkins_broker.transport, urllib3 underneath) against a real stdlib HTTP/1.1
server on loopback: what is sent (bodies, headers, a relative path) and what is read
(chunked answers, text decoding, JSON, cookies, HEAD)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from jenkins_broker.transport import Session

# -- what is sent ----------------------------------------------------------------------

def test_json_body_method_and_headers(serve, session):
    _, url = serve()
    session.headers["X-Session"] = "yes"
    answer = session.request("LIST", f"{url}/echo", json={"paths": ["a/b"]},
                             headers={"X-Vault-Token": "t"}).json()
    assert answer["method"] == "LIST"
    assert json.loads(answer["body"]) == {"paths": ["a/b"]}
    headers = answer["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["x-vault-token"] == "t" and headers["x-session"] == "yes"
    assert headers["user-agent"] == "jenkins-broker"
    assert headers["accept-encoding"] == "identity"


def test_form_params_and_a_relative_path(serve):
    _, url = serve()
    with Session(url + "/") as session:
        answer = session.request("POST", "echo", params={"a": "1 2"},
                                 form={"newTokenName": "x y"}).json()
    assert answer["path"] == "/echo?a=1+2"
    assert parse_qs(answer["body"]) == {"newTokenName": ["x y"]}
    assert answer["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_a_post_without_body_sends_a_zero_length(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/echo").json()
    assert answer["headers"]["content-length"] == "0"


# -- what is read ----------------------------------------------------------------------

def test_chunked_answers_are_decoded(serve, session):
    _, url = serve()
    assert session.request("GET", f"{url}/chunked").text == "hello chunked world"


@pytest.mark.parametrize("kind, encoded_as, expected", [
    ("text/plain;charset=UTF-8", "utf-8", "café"),
    ("text/html; charset=ISO-8859-1", "latin-1", "café"),
    ("application/json", "utf-8", "café"),     # no charset: UTF-8
    ("text/html", "latin-1", "caf\ufffd"),      # no charset, not UTF-8: replaced, not raised
])
def test_text_decoding(serve, session, kind, encoded_as, expected):
    _, url = serve()
    answer = session.request("GET", f"{url}/text", params={"type": kind, "enc": encoded_as})
    assert answer.text == expected


def test_json_errors_are_value_errors(serve, session):
    _, url = serve()
    with pytest.raises(ValueError):
        session.request("GET", f"{url}/notjson").json()


def test_cookies_status_and_headers(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/cookies")
    assert answer.cookies == {"JSESSIONID.1a2b3c4d": "node0abc", "other": "1"}
    assert answer.headers.getlist("set-cookie")[0].startswith("JSESSIONID.1a2b3c4d=")
    assert "node0abc" not in repr(answer)
    missing = session.request("GET", f"{url}/nothing")
    assert missing.status == 404 and not missing.ok and missing.reason == "Not Found"


def test_head_has_no_body(serve, session):
    _, url = serve()
    answer = session.request("HEAD", f"{url}/echo")
    assert answer.status == 200 and answer.body == b""
    assert session.request("GET", f"{url}/echo").json()["method"] == "GET"  # still in step
