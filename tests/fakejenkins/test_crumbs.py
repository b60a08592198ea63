"""Crumbs and sessions (docs/jenkins-behaviour.md §3): the XPath forms, the formula per
version, login."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.fixtures.jenkins import crumb_session, token_url

XML = "crumbIssuer/api/xml"


def session_id(fake, response) -> str:
    cookie = response.cookies[fake.cookie_name]
    return cookie.split(".", 1)[0]


@pytest.mark.parametrize("xpath, expected", [
    ('concat(//crumbRequestField,":",//crumb)', "Jenkins-Crumb:{crumb}"),
    ("concat(//crumbRequestField,'=',//crumb)", "Jenkins-Crumb={crumb}"),
    ("/*/crumbRequestField/text()", "Jenkins-Crumb"),
    ("/*/crumb/text()", "{crumb}"),
])
def test_the_four_whitelisted_xpath_forms(fake_jenkins, xpath, expected):
    session = requests.Session()
    session.auth = ("ci-bot", "botpw")
    r = session.get(fake_jenkins.url + XML, params={"xpath": xpath})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain;charset=UTF-8"
    crumb = session.get(fake_jenkins.url + "crumbIssuer/api/json").json()["crumb"]
    assert r.text == expected.format(crumb=crumb)


@pytest.mark.parametrize("xpath", ["//crumb/text()", "concat(//crumb,':',//crumbRequestField)",
                                   'concat(//crumbRequestField, ":", //crumb)', "count(//crumb)"])
def test_other_text_xpaths_are_forbidden(fake_jenkins, xpath):
    r = requests.get(fake_jenkins.url + XML, params={"xpath": xpath}, auth=("ci-bot", "botpw"))
    assert r.status_code == 403
    assert ("primitive XPath result sets forbidden; implement jenkins.security.SecureRequester"
            in r.text)


def test_element_xpaths_match_one_none_or_many(fake_jenkins):
    auth = ("ci-bot", "botpw")
    one = requests.get(fake_jenkins.url + XML, params={"xpath": "//crumb"}, auth=auth)
    assert one.status_code == 200 and one.text.startswith("<crumb>")
    none = requests.get(fake_jenkins.url + XML, params={"xpath": "//nothing"}, auth=auth)
    assert none.status_code == 404
    many = requests.get(fake_jenkins.url + XML, params={"xpath": "/*/*"}, auth=auth)
    assert many.status_code == 500
    wrapped = requests.get(fake_jenkins.url + XML, params={"xpath": "/*/*", "wrapper": "w"},
                           auth=auth)
    assert wrapped.status_code == 200 and wrapped.text.startswith("<w><crumb>")


def test_crumb_issuer_xml_document(fake_jenkins):
    r = requests.get(fake_jenkins.url + XML, auth=("ci-bot", "botpw"))
    assert r.headers["Content-Type"] == "application/xml;charset=UTF-8"
    assert r.text.startswith('<defaultCrumbIssuer _class="hudson.security.csrf.DefaultCrumbIssuer">'
                             "<crumb>")
    assert "<crumbRequestField>Jenkins-Crumb</crumbRequestField>" in r.text


def test_crumb_issuer_needs_overall_read(fake_jenkins):
    r = requests.get(fake_jenkins.url + "crumbIssuer/api/json")
    assert r.status_code == 403
    assert "Authentication required" in r.text
    assert "Set-Cookie" not in r.headers


def test_tree_and_jsonp(fake_jenkins):
    auth = ("ci-bot", "botpw")
    tree = requests.get(fake_jenkins.url + "crumbIssuer/api/json", params={"tree": "crumb"},
                        auth=auth).json()
    assert list(tree) == ["_class", "crumb"]
    jsonp = requests.get(fake_jenkins.url + "crumbIssuer/api/json", params={"jsonp": "f"},
                         auth=auth)
    assert jsonp.status_code == 403
    assert "jsonp forbidden; implement jenkins.security.SecureRequester" in jsonp.text
    python = requests.get(fake_jenkins.url + "whoAmI/api/python", auth=auth)
    assert "'anonymous'" not in python.text and '"anonymous":False' in python.text


@pytest.mark.parametrize("version, message, digest", [
    ("2.555.1", "ci-bot;{sid}", hashlib.sha256),             # 2.543+: no IP
    ("2.541.3", "ci-bot;127.0.0.1;{sid}", hashlib.sha256),   # SECURITY-626 with SHA-256
    ("2.176.3", "ci-bot;127.0.0.1;{sid}", hashlib.md5),      # LTS back-ports, still MD5
])
def test_crumb_formula_with_session(make_fake_jenkins, version, message, digest):
    fake = make_fake_jenkins(version=version)
    r = requests.get(fake.url + "crumbIssuer/api/json", auth=("ci-bot", "botpw"))
    expected = digest((message.format(sid=session_id(fake, r)) + fake.state.crumb_salt)
                      .encode()).hexdigest()
    assert r.json()["crumb"] == expected


@pytest.mark.parametrize("version, message", [
    ("2.176.1", "ci-bot;127.0.0.1"),                         # before SECURITY-626
    ("2.107.3", "ci-bot;127.0.0.1"),
    ("2.186", "ci-bot;127.0.0.1;NO_SESSION"),                 # getSession(false) until 2.192
    ("2.176.2", "ci-bot;127.0.0.1;NO_SESSION"),
])
def test_crumb_formula_without_session(make_fake_jenkins, version, message):
    fake = make_fake_jenkins(version=version)
    r = requests.get(fake.url + "crumbIssuer/api/json", auth=("ci-bot", "botpw"))
    assert "Set-Cookie" not in r.headers
    crumb = r.json()["crumb"]
    assert crumb == hashlib.md5((message + fake.state.crumb_salt).encode()).hexdigest()
    if version.startswith("2.176") or version == "2.186":
        # No cookie needed: Basic + crumb is enough on these versions.
        post = requests.post(fake.url + "scriptText", auth=("admin", "adminpw"),
                             headers={"Jenkins-Crumb": requests.get(
                                 fake.url + "crumbIssuer/api/json",
                                 auth=("admin", "adminpw")).json()["crumb"]})
        assert post.status_code == 200


def test_crumb_without_session_binding_survives_restart(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.176.1")
    crumb = requests.get(fake.url + "crumbIssuer/api/json",
                         auth=("admin", "adminpw")).json()["crumb"]
    fake.restart()
    r = requests.post(fake.url + "scriptText", auth=("admin", "adminpw"),
                      headers={"Jenkins-Crumb": crumb})
    assert r.status_code == 200


def test_restart_renews_cookie_name_and_session_hash(fake_jenkins):
    first = requests.get(fake_jenkins.url + "crumbIssuer/api/json", auth=("ci-bot", "botpw"))
    old_cookie, old_hash, old_port = fake_jenkins.cookie_name, first.headers["X-Jenkins-Session"], \
        fake_jenkins.port
    fake_jenkins.restart()
    second = requests.get(fake_jenkins.url + "crumbIssuer/api/json", auth=("ci-bot", "botpw"))
    assert fake_jenkins.port == old_port
    assert second.headers["X-Jenkins-Session"] != old_hash
    assert fake_jenkins.cookie_name != old_cookie
    assert second.headers["Set-Cookie"].startswith(fake_jenkins.cookie_name + "=")
    assert second.json()["crumb"] != first.json()["crumb"]


def test_crumb_403_opens_a_new_session(fake_jenkins):
    r = requests.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"),
                      auth=("ci-bot", "botpw"), headers={"Jenkins-Crumb": "stale"})
    assert r.status_code == 403
    assert "Set-Cookie" in r.headers       # validation calls request.getSession()


def test_form_login_session_short_circuits_basic_and_needs_crumb(fake_jenkins):
    token = fake_jenkins.add_token("ci-bot", name="t")[1]
    browser = requests.Session()
    login = browser.post(fake_jenkins.url + "j_spring_security_check",
                         data={"j_username": "ci-bot", "j_password": "botpw", "from": "/"},
                         allow_redirects=False)
    assert login.status_code == 302
    assert browser.get(fake_jenkins.url + "whoAmI/api/json").json()["name"] == "ci-bot"
    url = token_url(fake_jenkins, "ci-bot", "generateNewToken")
    # Same user in session and header: the header is ignored, so no CSRF exemption (§2).
    r = browser.post(url, auth=("ci-bot", token))
    assert r.status_code == 403 and "No valid crumb" in r.text
    # ... and not even checked: a wrong token does not give 401 here.
    assert browser.get(fake_jenkins.url + "api/json", auth=("ci-bot", "wrong")).status_code == 200
    crumb = browser.get(fake_jenkins.url + "crumbIssuer/api/json").json()["crumb"]
    assert browser.post(url, headers={"Jenkins-Crumb": crumb}).status_code == 200
    # A token of another user is processed normally, and exempt.
    other = fake_jenkins.add_token("other", name="o")[1]
    r = browser.post(token_url(fake_jenkins, "other", "generateNewToken"), auth=("other", other))
    assert r.status_code == 200


def test_failed_form_login_redirects_to_login_error(fake_jenkins):
    r = requests.post(fake_jenkins.url + "j_spring_security_check",
                      data={"j_username": "ci-bot", "j_password": "nope"}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/loginError")


def test_password_basic_is_not_stored_in_the_session(fake_jenkins):
    session = crumb_session(fake_jenkins, "ci-bot", "botpw")
    who = requests.get(fake_jenkins.url + "whoAmI/api/json", cookies=session.cookies).json()
    assert who["name"] == "anonymous"


def test_pre_2_0_crumb_field_is_dot_crumb(make_fake_jenkins):
    fake = make_fake_jenkins(version="1.651.3")
    body = requests.get(fake.url + "crumbIssuer/api/json", auth=("admin", "adminpw")).json()
    assert body["crumbRequestField"] == ".crumb"
    r = requests.get(fake.url + XML, auth=("admin", "adminpw"),
                     params={"xpath": "concat(//crumbRequestField,'=',//crumb)"})
    assert r.text == ".crumb=" + body["crumb"]
