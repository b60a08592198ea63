"""The TransportError class for each way a request fails, and that no message carries a
header value or a query: refused, timed out, cut short, bad URLs and headers, and
whatever escapes urllib3."""

from __future__ import annotations

import http.client
import socket

import pytest

from jenkins_broker import transport
from jenkins_broker.transport import Session, safe_url
from tests.support.echo_server import SECRET


def test_refused_is_connect_failed_naming_why():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Session(f"http://127.0.0.1:{port}/") as session, \
            pytest.raises(transport.ConnectFailed) as caught:
        session.request("GET", "x", headers={"X-Vault-Token": SECRET})
    assert "Connection refused" in str(caught.value) and SECRET not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_no_answer_in_time_is_a_read_timeout_without_the_token(serve, session):
    server, url = serve()
    with pytest.raises(transport.ReadTimeout, match="read timed out") as caught:
        session.request("GET", f"{url}/hang", timeout=(5, 0.2), headers={"X-Vault-Token": SECRET})
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    server.release.set()
    # The timed-out connection was closed, not pooled: the late answer is not read as this one's.
    assert session.request("GET", f"{url}/echo").json()["path"] == "/echo"
    assert len(server.peers) == 2


def test_a_request_is_never_sent_twice(serve, session):
    server, url = serve()
    with pytest.raises(transport.ConnectionBroken):
        session.request("POST", f"{url}/reset", form={"x": "1"})
    assert server.requests == 1


def test_an_answer_cut_short_is_a_broken_connection(serve, session):
    _, url = serve()
    with pytest.raises(transport.ConnectionBroken):
        session.request("GET", f"{url}/truncated")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http://127.0.0.1:notaport/",
                                 "http:///path"])
def test_bad_urls_are_bad_requests(session, url):
    with pytest.raises(transport.BadRequest):
        session.request("GET", url + f"?token={SECRET}")


@pytest.mark.parametrize("headers", [
    {"Jenkins-Crumb": f"abc\n{SECRET}"},
    {"Jenkins-Crumb": f"{SECRET}\r"},
    {"X-Vault-Token": f" {SECRET}"},
    {"Bad Name": SECRET},
    {"X-Number": 5},
])
def test_a_header_that_cannot_be_sent_is_refused_without_its_value(serve, session, headers):
    server, url = serve()
    with pytest.raises(transport.BadRequest) as caught:
        session.request("GET", f"{url}/echo", headers=headers)
    assert SECRET not in str(caught.value)
    assert server.peers == set()  # nothing was sent


@pytest.mark.parametrize("url, shown", [
    ("https://user:pw@jenkins.example:8443/a/b?token=x#frag", "https://jenkins.example:8443/a/b"),
    ("http://jenkins.example:notaport/x?q=1", "<unparsable URL>"),
    ("http://[::1]:8080/v1/x", "http://[::1]:8080/v1/x"),
])
def test_safe_url(url, shown):
    assert safe_url(url) == shown


def test_messages_leave_the_query_out(session):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(transport.ConnectFailed) as caught:
        session.request("GET", f"http://127.0.0.1:{port}/x?token={SECRET}")
    assert SECRET not in str(caught.value) and caught.value.url == f"http://127.0.0.1:{port}/x"


@pytest.mark.parametrize("raised", [
    http.client.InvalidURL(f"URL can't contain control characters. '/x?t={SECRET}'"),
    http.client.RemoteDisconnected(SECRET),
    RuntimeError(SECRET),
])
def test_whatever_escapes_urllib3_is_translated_by_class_only(raised):
    from tests.jenkins.stub import stub_session

    session = stub_session(lambda sent: raised, url="http://jenkins.example/")
    with pytest.raises(transport.TransportError) as caught:
        session.request("GET", "x", headers={"Authorization": "Basic " + SECRET})
    assert SECRET not in str(caught.value) and type(raised).__name__ in str(caught.value)
