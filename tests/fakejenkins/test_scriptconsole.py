"""The fake's script console (docs/jenkins-behaviour.md §4.10) with jenkins-broker's own
scripts (jenkins/scripts.py), run for real in Groovy 2.4 against the fake's Jenkins-shaped
classes; needs Groovy (skipped without it, see tests/fixtures/jenkins.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from jenkins_broker.errors import JenkinsScriptError
from jenkins_broker.fakejenkins import FakeUser
from jenkins_broker.jenkins import scripts
from tests.fixtures.jenkins import crumb_session


def run(fake, operation: str, **args) -> requests.Response:
    """POST the rendered script as admin, by password with a crumb (like a browser would)."""
    session = crumb_session(fake, "admin", "adminpw")
    return session.post(fake.url + "scriptText", data={"script": scripts.render(operation, **args)})


def result(fake, operation: str, **args) -> dict:
    r = run(fake, operation, **args)
    assert r.status_code == 200
    return scripts.parse_output(r.text, operation=operation, url=fake.url, user="admin")


def test_mint_list_revoke_round_trip(fake_jenkins):
    minted = result(fake_jenkins, "mint-token", user="ci-bot", name="jenkins-broker-x",
                    expiration_days=None)
    assert set(minted) == {"tokenUuid", "tokenName", "tokenValue"}
    assert minted["tokenName"] == "jenkins-broker-x"
    assert requests.get(fake_jenkins.url + "whoAmI/api/json",
                        auth=("ci-bot", minted["tokenValue"])).json()["name"] == "ci-bot"
    listed = result(fake_jenkins, "list-tokens", user="ci-bot")["tokens"]
    assert [(t["uuid"], t["name"], t["legacy"], t["useCounter"], t["expirationDate"])
            for t in listed] == [(minted["tokenUuid"], "jenkins-broker-x", False, 1, "never")]
    created = dt.datetime.fromtimestamp(listed[0]["creationDate"] / 1000, dt.timezone.utc)
    assert abs(created - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    assert result(fake_jenkins, "revoke-token", user="ci-bot",
                  uuid=minted["tokenUuid"]) == {"revoked": True}
    assert result(fake_jenkins, "revoke-token", user="ci-bot",
                  uuid=minted["tokenUuid"]) == {"revoked": False}
    assert result(fake_jenkins, "list-tokens", user="ci-bot") == {"tokens": []}


def test_output_is_exactly_one_line(fake_jenkins):
    r = run(fake_jenkins, "list-tokens", user="ci-bot")
    assert r.text == 'jenkins-broker-result {"tokens":[]}\n'
    assert r.headers["Content-Type"] == "text/plain;charset=UTF-8"


def test_mint_with_expiry_on_2_548_plus(fake_jenkins):
    fake_jenkins.today = dt.date(2026, 2, 18)
    minted = result(fake_jenkins, "mint-token", user="ci-bot", name="e", expiration_days=2)
    assert fake_jenkins.tokens("ci-bot")[0]["expiration_date"] == dt.date(2026, 2, 20)
    listed = result(fake_jenkins, "list-tokens", user="ci-bot")["tokens"]
    assert listed[0]["uuid"] == minted["tokenUuid"]
    assert listed[0]["expirationDate"] == "2/20/26"          # TokenInfoAndStats: display text


def test_unknown_user_is_a_refusal_line(fake_jenkins):
    r = run(fake_jenkins, "mint-token", user="nobody", name="x", expiration_days=None)
    assert r.text == ('jenkins-broker-error {"code":"no-such-user",'
                      '"message":"Jenkins has no user nobody"}\n')
    with pytest.raises(JenkinsScriptError, match="no user nobody"):
        scripts.parse_output(r.text, operation="mint-token", url=fake_jenkins.url, user="admin")
    assert fake_jenkins.tokens("ci-bot") == []


def test_script_users_are_ids_any_case(fake_jenkins):
    minted = result(fake_jenkins, "mint-token", user="CI-BOT", name="c", expiration_days=None)
    assert [t["uuid"] for t in fake_jenkins.tokens("ci-bot")] == [minted["tokenUuid"]]


def test_mint_with_expiry_before_2_548_throws(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.541.3")
    r = run(fake, "mint-token", user="ci-bot", name="e", expiration_days=3)
    assert r.status_code == 200
    assert r.text.startswith("groovy.lang.MissingMethodException: No signature of method: "
                             "jenkins.security.apitoken.ApiTokenStore.generateNewToken()")
    assert "\tat Script1.run(Script1.groovy:" in r.text
    assert fake.tokens("ci-bot") == []
    listed = result(fake, "list-tokens", user="ci-bot")
    assert listed == {"tokens": []}
    result(fake, "mint-token", user="ci-bot", name="ok", expiration_days=None)
    assert result(fake, "list-tokens", user="ci-bot")["tokens"][0]["expirationDate"] is None


def test_scripts_fail_before_2_129(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.107.3")
    for operation, args in (("mint-token", {"name": "x", "expiration_days": None}),
                            ("revoke-token", {"uuid": "u"}), ("list-tokens", {})):
        r = run(fake, operation, user="ci-bot", **args)
        assert r.status_code == 200
        assert r.text.startswith("groovy.lang.MissingPropertyException: No such property: "), r.text
        with pytest.raises(JenkinsScriptError):
            scripts.parse_output(r.text, operation=operation, url=fake.url, user="admin")


@pytest.mark.parametrize("fault", [True, "before", "disk full"])
def test_script_fault_before(fake_jenkins, fault):
    fake_jenkins.script_fault = fault
    r = run(fake_jenkins, "mint-token", user="ci-bot", name="x", expiration_days=None)
    assert r.status_code == 200
    assert "\tat " in r.text and "jenkins-broker-result" not in r.text
    if fault == "disk full":
        assert r.text.startswith("java.lang.IllegalStateException: disk full")
    assert fake_jenkins.tokens("ci-bot") == []
    with pytest.raises(JenkinsScriptError):
        scripts.parse_output(r.text, operation="mint-token", url=fake_jenkins.url, user="admin")


def test_script_fault_after_leaves_the_change_made(fake_jenkins):
    fake_jenkins.script_fault = "after"
    r = run(fake_jenkins, "mint-token", user="ci-bot", name="orphan", expiration_days=None)
    assert r.text.startswith("java.io.IOException:")
    [orphan] = fake_jenkins.tokens("ci-bot")
    assert orphan["name"] == "orphan"                 # minted, but nobody got the value
    fake_jenkins.script_fault = None
    assert result(fake_jenkins, "list-tokens", user="ci-bot")["tokens"][0]["name"] == "orphan"


def test_other_scripts_run_too(fake_jenkins):
    admin = fake_jenkins.add_token("admin", name="a")[1]
    edited = scripts.render("list-tokens", user="ci-bot") + "\nprintln 'more'"
    r = requests.post(fake_jenkins.url + "scriptText", auth=("admin", admin),
                      data={"script": edited})
    assert r.status_code == 200
    assert r.text == 'jenkins-broker-result {"tokens":[]}\nmore\n'
    # What the fake's Jenkins lacks fails as a missing property would on Jenkins.
    plugins = requests.post(fake_jenkins.url + "scriptText", auth=("admin", admin),
                            data={"script": "println Jenkins.instance.pluginManager.plugins"})
    assert plugins.status_code == 200
    assert plugins.text.startswith("groovy.lang.MissingPropertyException: No such property: "
                                   "pluginManager for class: hudson.model.Hudson\n\tat ")
    blank = requests.post(fake_jenkins.url + "scriptText", auth=("admin", admin),
                          data={"script": "  "})
    assert blank.status_code == 200 and blank.text == ""


def test_script_console_page(fake_jenkins):
    admin = fake_jenkins.add_token("admin", name="a")[1]
    r = requests.post(fake_jenkins.url + "script", auth=("admin", admin),
                      data={"script": scripts.render("list-tokens", user="ci-bot")})
    assert r.status_code == 200 and "jenkins-broker-result" in r.text
    assert r.headers["X-Jenkins"] == "2.555.1"


def test_run_scripts_permission_before_2_222(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.204.6")
    r = requests.post(fake.url + "scriptText", auth=("ci-bot", fake.add_token("ci-bot")[1]),
                      data={"script": "1"})
    assert r.status_code == 403
    assert r.headers["X-Required-Permission"] == "hudson.model.Hudson.RunScripts"
    assert r.headers["X-Permission-Implied-By"] == "hudson.model.Hudson.Administer"


def test_list_tokens_sorted_and_with_legacy(make_fake_jenkins):
    fake = make_fake_jenkins(users=[FakeUser("admin", "adminpw", admin=True),
                                    FakeUser("old", "pw", legacy_token=True)])
    fake.add_token("old", name="b")
    fake.add_token("old", name="A")
    rows = result(fake, "list-tokens", user="old")["tokens"]
    assert [(r["name"], r["legacy"]) for r in rows] == [("A", False), ("b", False),
                                                        ("Legacy Token", True)]
    assert rows[2]["creationDate"] is None


def test_json_escapes_like_groovy(fake_jenkins):
    r = run(fake_jenkins, "mint-token", user="ci-bot", name='ü "q"', expiration_days=None)
    line = r.text.strip()
    assert '\\u00fc \\"q\\"' in line
    assert json.loads(line.split(" ", 1)[1])["tokenName"] == 'ü "q"'
