"""HTML pages: the token list markup of each era (docs/jenkins-behaviour.md §10) and the
error pages (§5)."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
import requests

from jenkins_broker.fakejenkins import FakeUser


class Elements(HTMLParser):
    """Collects (tag, attrs, text) of every element; text is the element's own text."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[dict] = []
        self._open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "",
                   "hidden_by": [e for e in self._open if "jenkins-hidden" in e["classes"]]}
        element["classes"] = set((element["attrs"].get("class") or "").split())
        self.found.append(element)
        if tag not in ("input", "meta", "link", "br", "img"):
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self._open and self._open[-1]["tag"] == tag:
            self._open.pop()

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1]["text"] += data

    def select(self, tag: str, cls: str | None = None, **attrs) -> list[dict]:
        return [e for e in self.found if e["tag"] == tag
                and (cls is None or cls in e["classes"])
                and all(e["attrs"].get(k) == v for k, v in attrs.items())]


def page(fake, path, auth=("ci-bot", "botpw")) -> requests.Response:
    return requests.get(fake.url + path, auth=auth)


def test_security_page_2_505_markup(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.555.1")
    fake.add_user(FakeUser("old", "oldpw", legacy_token=True))
    fake.today = dt.date.today()
    expiring_uuid, _ = fake.add_token("old", name="b-expiring",
                                      expiration_date=fake.today + dt.timedelta(days=3))
    never_uuid, never = fake.add_token("old", name="A-never")
    requests.get(fake.url + "whoAmI/api/json", auth=("old", never))
    r = page(fake, "user/old/security/", auth=("old", "oldpw"))
    assert r.status_code == 200
    html = Elements(r.text)
    cards = [c for c in html.select("div", "token-card") if not c["hidden_by"]]
    legacy_uuid = [t["uuid"] for t in fake.tokens("old") if t["legacy"]][0]
    # sorted by lower-cased name: "A-never", "b-expiring", "Legacy Token"
    assert [c["attrs"]["id"] for c in cards] == [never_uuid, expiring_uuid, legacy_uuid]
    assert [c["classes"] >= {"legacy-token"} for c in cards] == [False, False, True]
    names = [e["text"] for e in html.select("span", "token-name") if not e["hidden_by"]]
    assert names == ["A-never", "b-expiring", "Legacy Token"]
    creation = [e for e in html.select("span", "token-creation")]
    assert [e["text"] for e in creation][:2] == [
        "This token does not expire",
        "Expires on " + f"{(fake.today + dt.timedelta(days=3)):%-m/%-d/%y}"]
    assert all(e["attrs"]["tooltip"].startswith("Created on ") for e in creation)
    assert len(html.select("span", "token-last-used")) == 3
    assert html.select("span", "token-use-counter")[0]["text"] == "1"
    # the hidden row template carries a card too, with no id
    template = [c for c in html.select("div", "token-card") if c["hidden_by"]]
    assert len(template) == 1 and "id" not in template[0]["attrs"]
    # the legacy value, visible to the owner
    assert html.select("input", id="apiToken")[0]["attrs"]["value"] == fake.legacy_token("old")


def test_security_page_2_468_to_2_504_markup(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.504")
    first_uuid, _ = fake.add_token("ci-bot", name="zeta")
    second_uuid, _ = fake.add_token("ci-bot", name="Alpha")
    html = Elements(page(fake, "user/ci-bot/security/").text)
    rows = html.select("div", "token-list-existing-item")
    assert len(rows) == 2
    assert not html.select("div", "token-card")
    uuids = [e["attrs"]["value"] for e in html.select("input", name="tokenUuid", type="hidden")]
    assert uuids == [second_uuid, first_uuid]
    names = [e["attrs"]["value"] for e in html.select("input", name="tokenName")]
    assert names == ["Alpha", "zeta"]


def test_before_2_468_the_tokens_are_on_configure(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.176.1")
    token_uuid, _ = fake.add_token("ci-bot", name="t")
    assert page(fake, "user/ci-bot/security/").status_code == 404
    html = Elements(page(fake, "user/ci-bot/configure").text)
    assert [e["attrs"]["value"] for e in html.select("input", name="tokenUuid")] == [token_uuid]
    modern = make_fake_jenkins(version="2.555.1")
    modern.add_token("ci-bot", name="t")
    assert not Elements(page(modern, "user/ci-bot/configure").text).select("div", "token-card")


def test_before_2_129_configure_shows_the_legacy_token(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.107.3")
    own = Elements(page(fake, "user/ci-bot/configure").text)
    assert own.select("input", id="apiToken")[0]["attrs"]["value"] == fake.legacy_token("ci-bot")
    by_admin = Elements(page(fake, "user/ci-bot/configure", auth=("admin", "adminpw")).text)
    assert by_admin.select("input", id="apiToken")[0]["attrs"]["value"] == "Token is hidden"


def test_security_page_is_for_owner_or_admin(fake_jenkins):
    assert page(fake_jenkins, "user/ci-bot/security/", ("admin", "adminpw")).status_code == 200
    denied = page(fake_jenkins, "user/ci-bot/security/", ("other", "otherpw"))
    assert denied.status_code == 403
    assert denied.headers["X-Required-Permission"] == "hudson.model.Hudson.Administer"
    assert "Access Denied" in denied.text
    anonymous = requests.get(fake_jenkins.url + "user/ci-bot/security/")
    assert anonymous.status_code == 403 and "Authentication required" in anonymous.text
    redirect = requests.get(fake_jenkins.url + "user/ci-bot/security", auth=("ci-bot", "botpw"),
                            allow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.headers["Location"].endswith("/user/ci-bot/security/")


def test_layout_pages_carry_a_crumb_and_open_a_session(fake_jenkins):
    session = requests.Session()
    session.auth = ("ci-bot", "botpw")
    r = session.get(fake_jenkins.url + "user/ci-bot/security/")
    head = Elements(r.text).select("head")[0]["attrs"]
    assert head["data-crumb-header"] == "Jenkins-Crumb"
    assert fake_jenkins.cookie_name in session.cookies
    post = session.post(fake_jenkins.url + "user/ci-bot/descriptorByName/jenkins.security."
                        "ApiTokenProperty/generateNewToken",
                        headers={"Jenkins-Crumb": head["data-crumb-value"]})
    assert post.status_code == 200


def test_anonymous_403_login_redirect(fake_jenkins):
    r = requests.get(fake_jenkins.url + "user/ci-bot/api/json?tree=id")
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "text/html;charset=UTF-8"
    assert r.headers["X-Jenkins"] == "2.555.1" and r.headers["X-Hudson"] == "1.395"
    assert "/login?from=%2Fuser%2Fci-bot%2Fapi%2Fjson%3Ftree%3Did" in r.text
    xhr = requests.get(fake_jenkins.url + "me/api/json",
                       headers={"X-Requested-With": "XMLHttpRequest"})
    assert xhr.status_code == 403
    assert "X-Jenkins" not in xhr.headers and "HTTP ERROR 403" in xhr.text


def test_not_found_and_oops_pages(fake_jenkins):
    missing = page(fake_jenkins, "user/nobody/")
    assert missing.status_code == 404 and "Oops!" in missing.text
    assert missing.headers["X-Jenkins"] == "2.555.1"
    assert page(fake_jenkins, "job/anything/").status_code == 404
    assert requests.get(fake_jenkins.url + "job/anything/").status_code == 403   # read first


def test_users_resolve_by_id_any_case_and_by_full_name(make_fake_jenkins):
    fake = make_fake_jenkins(users=[FakeUser("jdoe", "pw", full_name="Jane Doe")])
    for path in ("user/jdoe/api/json", "user/JDOE/api/json", "user/Jane%20Doe/api/json"):
        body = page(fake, path, auth=("jdoe", "pw")).json()
        assert body["id"] == "jdoe" and body["fullName"] == "Jane Doe", path
    assert requests.get(fake.url + "api/json", auth=("JDoe", "pw")).status_code == 200
    assert requests.get(fake.url + "api/json", auth=("Jane Doe", "pw")).status_code == 401


@pytest.mark.parametrize("path", ["login", "whoAmI/"])
def test_unprotected_pages_answer_anonymous(fake_jenkins, path):
    r = requests.get(fake_jenkins.url + path)
    assert r.status_code == 200
    assert r.headers["X-Jenkins"] == "2.555.1"


def test_who_am_i_page_redacts_credentials(fake_jenkins):
    r = page(fake_jenkins, "whoAmI/")
    assert "ci-bot" in r.text
    assert "Y2ktYm90OmJvdHB3" not in r.text           # base64 of ci-bot:botpw


def test_root_api_and_version_header(fake_jenkins):
    r = page(fake_jenkins, "api/json")
    body = r.json()
    assert body["_class"] == "hudson.model.Hudson"
    assert body["useCrumbs"] is True and body["useSecurity"] is True
    assert r.headers["X-Jenkins"] == "2.555.1"
