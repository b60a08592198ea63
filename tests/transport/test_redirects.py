"""Redirects: followed only when asked, credentials dropped on a redirect to another origin,
a 303 turned into a GET, a loop stopped; the same rules for the session's own server."""

from __future__ import annotations

import json

import pytest

from jenkins_broker import transport
from jenkins_broker.transport import Session
from tests.support.echo_server import SECRET


def test_get_follows_redirects_when_asked_and_reports_the_final_url(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to=/echo", redirect=True)
    assert answer.status == 200 and answer.url == f"{url}/echo"


def test_redirects_are_not_followed_by_default(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/redirect?status=302&to=/echo")
    assert answer.status == 302 and answer.headers["location"] == "/echo"
    assert answer.url == f"{url}/redirect?status=302&to=/echo"


def test_credentials_do_not_follow_a_redirect_to_another_host(serve, session):
    _, target = serve(host="localhost")
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to={target}/echo", redirect=True,
                             headers={"Authorization": "Basic " + SECRET,
                                      "Cookie": "JSESSIONID=" + SECRET}).json()
    assert "authorization" not in answer["headers"] and "cookie" not in answer["headers"]


def test_credentials_do_not_follow_a_redirect_to_another_port_or_scheme(serve, session):
    _, target = serve()
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to={target}/echo", redirect=True,
                             headers={"Authorization": "Basic " + SECRET}).json()
    assert "authorization" not in answer["headers"]
    same = session.request("GET", f"{url}/redirect?status=302&to={url}/echo", redirect=True,
                           headers={"Authorization": "Basic x"}).json()
    assert same["headers"]["authorization"] == "Basic x"  # same origin: kept


def test_a_303_turns_into_a_get_without_body(serve, session):
    _, url = serve()
    changed = session.request("POST", f"{url}/redirect?status=303&to=/echo", json={"a": 1},
                              redirect=True).json()
    assert changed["method"] == "GET" and changed["body"] == ""


def test_a_redirect_loop_stops(serve, session):
    _, url = serve()
    with pytest.raises(transport.TooManyRedirects, match="too many redirects"):
        session.request("GET", f"{url}/loop", redirect=True)


def test_a_redirect_from_the_sessions_own_server_follows_the_same_rules(serve):
    # Requests to the base URL's server take the pool directly; a redirect answer is
    # followed by the pool manager, with its rules for credentials.
    _, target = serve(host="localhost")
    _, url = serve()
    with Session(url) as session:
        moved = session.request("GET", f"redirect?status=302&to={target}/echo", redirect=True,
                                headers={"Authorization": "Basic " + SECRET}).json()
        kept = session.request("POST", "redirect?status=307&to=/echo", json={"a": 1},
                               redirect=True, headers={"Authorization": "Basic x"}).json()
        not_asked = session.request("GET", f"redirect?status=302&to={target}/echo")
    assert "authorization" not in moved["headers"]
    assert kept["method"] == "POST" and json.loads(kept["body"]) == {"a": 1}
    assert kept["headers"]["authorization"] == "Basic x"
    assert not_asked.status == 302
