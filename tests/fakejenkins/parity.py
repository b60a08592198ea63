"""Helpers of the parity tests (test_jenkins_parity*.py): the checks Jenkins' own tests
make, as the fake answers them.

Jenkins' tests use ``JenkinsRule``'s dummy security realm, where a user's password is its
name and, with no authorization strategy, everyone may do everything: the fakes here
have users whose password is their name and who are administrators where the Jenkins
test needs one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests

from jenkins_broker.fakejenkins import FakeUser
from tests.fixtures.jenkins import crumb_session

PROPERTY = "jenkins.security.ApiTokenProperty"


class Hidden(str):
    """A token value that pytest does not print: a failure shows the arguments of the
    helpers it went through, and this repr stands in for the value."""

    def __repr__(self) -> str:
        return "<token>"


class HiddenHeaders(dict):
    """Request headers holding a credential, likewise."""

    def __repr__(self) -> str:
        return "{<headers with a credential>}"


def users(*names: str, legacy: tuple[str, ...] = ()) -> list[FakeUser]:
    """Users as JenkinsRule's dummy realm has them: password = name; all administrators."""
    return [FakeUser(name, name, admin=True, legacy_token=name in legacy or None) for name in names]


def who_am_i(fake, auth=None, session: requests.Session | None = None) -> requests.Response:
    client = session or requests
    return client.get(fake.url + "whoAmI/api/xml", auth=auth, timeout=10)


def assert_connected(fake, login: str, auth=None, session=None) -> None:
    """ApiTokenPropertyTest#checkUserIsConnected / #checkTokenIsWorking: the four XPaths
    //name, //anonymous, //authenticated, //authority of whoAmI/api/xml."""
    r = who_am_i(fake, auth, session)
    status = r.status_code
    assert status == 200, status
    root = ET.fromstring(r.text)
    assert root.findtext("name") == login
    assert root.findtext("anonymous") == "false"
    assert root.findtext("authenticated") == "true"
    assert root.findtext("authority") == "authenticated"


def assert_not_connected(fake, auth) -> None:
    """ApiTokenPropertyTest#checkTokenIsNotWorking: whoAmI/api/xml answers 401 (a failure
    does not show the credential)."""
    status = who_am_i(fake, auth).status_code
    assert status == 401, status


def script(fake, text: str, *, as_user: str) -> str:
    """Run ``text`` in the fake's script console as ``as_user`` (its password is its name);
    the output. The Java API calls of Jenkins' tests become these scripts."""
    session = crumb_session(fake, as_user, as_user)
    r = session.post(fake.url + "scriptText", data={"script": text}, timeout=60)
    assert r.status_code == 200
    return r.text


def prop(user: str) -> str:
    """Groovy for ``User.getById(user, false).getProperty(ApiTokenProperty.class)``."""
    return f"User.getById('{user}', false).getProperty({PROPERTY})"


def token_url(fake, user: str, method: str) -> str:
    return f"{fake.url}user/{user}/descriptorByName/{PROPERTY}/{method}"


def form_login(fake, user: str, password: str | None = None) -> requests.Session:
    """``JenkinsRule.WebClient#login``: a session logged in by the login form, holding the
    session's crumb as a header."""
    session = requests.Session()
    r = session.post(fake.url + "j_spring_security_check",
                     data={"j_username": user, "j_password": password or user},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "loginError" not in r.headers["Location"]
    issued = session.get(fake.url + "crumbIssuer/api/json", timeout=10).json()
    session.headers[issued["crumbRequestField"]] = issued["crumb"]
    return session


def legacy_input(page: str) -> str:
    """The value of the security page's ``_.apiToken`` field."""
    import re

    found = re.search(r'name="_\.apiToken"[^>]*value="([^"]*)"', page)
    assert found, "no _.apiToken field"
    return found[1]
