"""The fake held against Jenkins' own tests: Basic-header authentication, crumbs, whoAmI.

Each test mirrors one test method of Jenkins core (jenkinsci/jenkins at master), named in
its docstring, with the assertions of it that concern HTTP behaviour the fake emulates;
see test_jenkins_parity.py for the token tests and for what is out of scope. Here, also
out of scope: ``DefaultCrumbIssuerTest#testRequirePostErrorPageCrumb`` (``quietDown``),
``#anonCanStillPostRequestUsingBrowsers`` (the ``configure`` form), the
``EXCLUDE_SESSION_ID`` halves of ``#crumbOnlyValidForOneSession`` and
``#sessionIncludedEvenForAnonymousCall``, ``#adminMonitorShowsWhenSessionIsExcluded`` and
``#logWarningWithoutSessionOrIp`` (a system property and a log the fake does not have), the
custom ``crumbRequestField`` of ``#apiXml``; ``ApiCrumbExclusionTest``'s halves without a
crumb issuer and its ``me/account`` form; ``CrumbExclusionTest#regular`` (a plugin's
CrumbExclusion). Where Jenkins' test lets anonymous read (JenkinsRule's default), the
fake's anonymous may not, and an authenticated user without a session stands in for it.
"""

from __future__ import annotations

import base64
import re

import pytest
import requests

from tests.fakejenkins.parity import (
    Hidden,
    HiddenHeaders,
    assert_connected,
    assert_not_connected,
    form_login,
    script,
    users,
)
from tests.fixtures.jenkins import crumb_session

NO_VALID_CRUMB = "No valid crumb was included in the request"


def basic(prefix: str, user: str, secret: str) -> dict:
    return HiddenHeaders(
        Authorization=prefix + " " + base64.b64encode(f"{user}:{secret}".encode()).decode())


def expect(fake, answer: str | int, headers=None, session=None) -> None:
    """whoAmI names ``answer``, or answers that status (the ``test`` root action of
    BasicHeaderProcessorTest answers the current user's id); a failure does not show the
    credential."""
    r = (session or requests).get(fake.url + "whoAmI/api/json", headers=headers, timeout=10)
    got = r.json()["name"] if r.status_code == 200 else r.status_code
    assert got == answer, f"whoAmI: {got!r}, expected {answer!r}"


# -- BasicHeaderProcessorTest ------------------------------------------------------------------

def test_various_ways_to_call(make_fake_jenkins):
    """Mirrors BasicHeaderProcessorTest#testVariousWaysToCall."""
    fake = make_fake_jenkins(users=users("foo", "bar"))
    token = Hidden(fake.add_token("foo", name="t")[1])
    expect(fake, "anonymous")
    expect(fake, "foo", basic("Basic", "foo", token))
    expect(fake, 401, basic("Basic", "foo", "abcd" + token))
    expect(fake, "foo", basic("Basic", "foo", "foo"))
    expect(fake, 401, basic("Basic", "foo", "bar"))
    wc = form_login(fake, "bar")
    expect(fake, "bar", session=wc)
    expect(fake, "bar", basic("Basic", "bar", "bar"), session=wc)
    # A wrong password fails, instead of silently logging in as the session's user.
    expect(fake, 401, basic("Basic", "foo", "bar"), session=wc)


@pytest.mark.parametrize("prefix", ["Basic", "BASIC", "basic", "bASIC"])
def test_auth_header_case_insensitive(make_fake_jenkins, prefix):
    """Mirrors BasicHeaderProcessorTest#testAuthHeaderCaseInSensitive (its legacy token,
    made on creation, is the fake user's legacy token)."""
    fake = make_fake_jenkins(users=users("foo", legacy=("foo",)))
    token = Hidden(fake.legacy_token("foo"))
    expect(fake, "foo", basic(prefix, "foo", token))
    expect(fake, 401, basic(prefix, "foo", "abcd" + token))
    expect(fake, "foo", basic(prefix, "foo", "foo"))
    expect(fake, 401, basic(prefix, "foo", "bar"))


# -- BasicHeaderApiTokenAuthenticatorTest ------------------------------------------------------

def test_legacy_token_regular_case(make_fake_jenkins):
    """Mirrors BasicHeaderApiTokenAuthenticatorTest#legacyToken_regularCase (the legacy
    token read from the security page; the user survives a restart)."""
    fake = make_fake_jenkins(users=users("user1", legacy=("user1",)))
    page = requests.get(fake.url + "user/user1/security/", auth=("user1", "user1"), timeout=10).text
    token = Hidden(re.search(r'id="apiToken"[^>]*value="([0-9a-f]{32})"', page)[1])
    fake.restart()
    assert script(fake, "println User.getById('user1', false) != null", as_user="user1") == "true\n"
    expect(fake, 401, basic("Basic", "user1", "invalid-token"))
    expect(fake, 401, basic("Basic", "user-not-valid", token))
    assert script(fake, "println User.getById('user-not-valid', false)", as_user="user1") == "null\n"
    r = requests.get(fake.url + "whoAmI/api/xml", headers=basic("Basic", "user1", token), timeout=10)
    assert re.search(r"<name>user1</name>", r.text)


# -- ApiCrumbExclusionTest ------------------------------------------------------------------------

def test_call_using_api_token_does_not_require_csrf_token(make_fake_jenkins):
    """Mirrors ApiCrumbExclusionTest#callUsingApiTokenDoesNotRequireCSRFToken, its half
    with the crumb issuer (the fake always has one): a POST by token needs no crumb, by
    password it does. The ``test-post`` root action is whoAmI, answering the user."""
    fake = make_fake_jenkins(users=users("foo"))
    token = Hidden(fake.add_token("foo", name="t")[1])
    r = requests.post(fake.url + "whoAmI/api/json", auth=("foo", token), timeout=10)
    assert r.status_code == 200 and r.json()["name"] == "foo"
    r = requests.post(fake.url + "whoAmI/api/json", auth=("foo", "foo"), timeout=10)
    assert r.status_code == 403


# -- CrumbExclusionTest -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["scriptText", "scriptText/..;/cli"])
def test_path_info(make_fake_jenkins, path):
    """Mirrors CrumbExclusionTest#pathInfo (SECURITY-1774): a path that ends in /cli
    after a path parameter is not the CLI's crumb exclusion."""
    fake = make_fake_jenkins(users=users("admin"))
    wc = requests.Session()
    wc.post(fake.url + "j_spring_security_check", data={"j_username": "admin", "j_password": "admin"},
            allow_redirects=False, timeout=10)
    r = wc.post(fake.url + path + "?script=11*11", timeout=10)
    assert r.status_code in (403, 400)
    assert (NO_VALID_CRUMB if r.status_code == 403 else "path parameter") in r.text


# -- WhoAmITest ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["whoAmI/", "whoAmI/api/json"])
def test_who_am_i_regular_does_not_provide_sensitive_information(make_fake_jenkins, page):
    """Mirrors WhoAmITest#whoAmI_regular_doesNotProvideSensitiveInformation and
    #whoAmI_regularApi_doesNotProvideSensitiveInformation."""
    fake = make_fake_jenkins(users=users("user"))
    wc = form_login(fake, "user")
    session_id = next(iter(wc.cookies.values())).split(".")[0]
    content = wc.get(fake.url + page, timeout=10).text
    assert session_id and "SessionId" not in content and session_id not in content


@pytest.mark.parametrize("by", ["password", "token"])
def test_who_am_i_basic_and_api_token_do_not_provide_sensitive_information(make_fake_jenkins, by):
    """Mirrors WhoAmITest#whoAmI_basic_doesNotProvideSensitiveInformation and
    #whoAmI_apiToken_doesNotProvideSensitiveInformation: the Authorization header is not shown."""
    fake = make_fake_jenkins(users=users("user"))
    secret = Hidden("user" if by == "password" else fake.add_token("user", name="test")[1])
    header = basic("Basic", "user", secret)
    content = requests.get(fake.url + "whoAmI/", headers=header, timeout=10).text
    shown = header["Authorization"].split()[1] in content
    assert not shown and "SessionId" not in content


# -- DefaultCrumbIssuerTest ----------------------------------------------------------------------------

def test_api_xml(make_fake_jenkins):
    """Mirrors DefaultCrumbIssuerTest#apiXml (but its custom request field)."""
    fake = make_fake_jenkins(users=users("reader"))
    wc = requests.Session()
    wc.auth = ("reader", "reader")
    url = fake.url + "crumbIssuer/api/xml"
    assert re.search(r"<crumbRequestField>Jenkins-Crumb</crumbRequestField>", wc.get(url, timeout=10).text)

    def text(xpath: str) -> requests.Response:
        return wc.get(url, params={"xpath": xpath}, timeout=10)

    assert re.fullmatch(r"Jenkins-Crumb=[0-9a-f]+", text("concat(//crumbRequestField,'=',//crumb)").text)
    assert re.fullmatch(r"Jenkins-Crumb:[0-9a-f]+", text('concat(//crumbRequestField,":",//crumb)').text)
    assert text("/*/crumbRequestField/text()").text == "Jenkins-Crumb"
    assert re.fullmatch(r"[0-9a-f]+", text("/*/crumb/text()").text)
    for hack in ("concat('hack=\"',//crumb,'\"')", "concat(\"hack='\",//crumb,\"'\")",
                 "concat('{',//crumb,':1}')", "concat('hack.',//crumb,'=1')"):
        assert text(hack).status_code == 403, hack


def test_api_json(make_fake_jenkins):
    """Mirrors DefaultCrumbIssuerTest#apiJson."""
    fake = make_fake_jenkins(users=users("reader"))
    body = requests.get(fake.url + "crumbIssuer/api/json", auth=("reader", "reader"), timeout=10).json()
    assert body["crumbRequestField"] == "Jenkins-Crumb" and re.fullmatch(r"[0-9a-f]+", body["crumb"])
    r = requests.get(fake.url + "crumbIssuer/api/json?jsonp=hack", auth=("reader", "reader"), timeout=10)
    assert r.status_code == 403


def test_crumb_only_valid_for_one_session(make_fake_jenkins):
    """Mirrors DefaultCrumbIssuerTest#crumbOnlyValidForOneSession (SECURITY-626), its half
    with the session in the crumb."""
    fake = make_fake_jenkins(users=users("foo"))
    first = form_login(fake, "foo")
    crumb1 = first.headers["Jenkins-Crumb"]
    first.get(fake.url + "logout", timeout=10)
    second = form_login(fake, "foo")
    assert second.headers["Jenkins-Crumb"] != crumb1
    second.headers["Jenkins-Crumb"] = crumb1
    r = second.post(fake.url + "user/foo/descriptorByName/jenkins.security.ApiTokenProperty/generateNewToken",
                    timeout=10)
    assert r.status_code == 403 and "No valid crumb" in r.text


def test_session_included_even_for_anonymous_call(make_fake_jenkins):
    """Mirrors DefaultCrumbIssuerTest#sessionIncludedEvenForAnonymousCall (SECURITY-1491),
    its half with the session in the crumb: a POST without a crumb, then with the crumb of
    another session, is refused."""
    fake = make_fake_jenkins(users=users("foo"))
    crumb1 = requests.get(fake.url + "crumbIssuer/api/xml",
                          params={"xpath": "concat(//crumbRequestField,'=',//crumb)"},
                          auth=("foo", "foo"), timeout=10).text.split("=", 1)[1]
    url = fake.url + "user/foo/descriptorByName/jenkins.security.ApiTokenProperty/generateNewToken"
    r = requests.post(url, auth=("foo", "foo"), timeout=10)
    assert r.status_code == 403 and "No valid crumb" in r.text
    r = requests.post(url, auth=("foo", "foo"), headers={"Jenkins-Crumb": crumb1}, timeout=10)
    assert r.status_code == 403
    assert fake.tokens("foo") == []


def test_two_requests_without_session_get_different_crumbs(make_fake_jenkins):
    """Mirrors DefaultCrumbIssuerTest#twoRequestsWithoutSessionGetDifferentCrumbs (SECURITY-1491)."""
    fake = make_fake_jenkins(users=users("foo"))
    crumbs = [requests.get(fake.url + "crumbIssuer/api/xml",
                           params={"xpath": "concat(//crumbRequestField,'=',//crumb)"},
                           auth=("foo", "foo"), timeout=10).text for _ in range(2)]
    assert crumbs[0] != crumbs[1]


@pytest.mark.parametrize("flavor", ["xml", "json", "python"])
def test_custom_not_exposed_to_iframe(make_fake_jenkins, flavor):
    """Mirrors DefaultCrumbIssuerTest#custom_notExposedToIFrame (SECURITY-1704)."""
    fake = make_fake_jenkins(users=users("foo"))
    r = requests.get(fake.url + f"crumbIssuer/api/{flavor}", auth=("foo", "foo"), timeout=10)
    assert r.headers["X-Frame-Options"] == "deny"


# -- the checks these share, as the token tests make them ------------------------------------------

def test_check_user_is_connected_and_not(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#checkUserIsConnected and #checkUserIsNotConnected (the
    helpers of migrationFromLegacyToken, ApiTokenStatsTest and others) with a session."""
    fake = make_fake_jenkins(users=users("admin"))
    assert_connected(fake, "admin", session=crumb_session(fake, "admin", "admin"))
    assert_not_connected(fake, ("admin", "11" + "0" * 32))
