"""The fake held against Jenkins' own tests (jenkinsci/jenkins, read at master, 2.579).

Each test here mirrors one test method of Jenkins core, named in its docstring, and makes
the assertions of that method that concern HTTP behaviour the fake emulates, with the
fake answering over HTTP. The Java calls those methods make on Jenkins' objects
(``apiTokenProperty.generateNewToken(...)``) are made here through the fake's script
console, which runs them in real Groovy on the fake's Jenkins-shaped classes
(docs/fake-jenkins-groovy.md). This file covers the API token classes:
``ApiTokenPropertyTest``, ``ApiTokenStatsTest``, ``ApiTokenStatsRestartTest``,
``ApiTokenPropertyConfigurationTest`` and ``LegacyApiTokenAdministrativeMonitorTest``;
test_jenkins_parity_http.py covers Basic-header authentication, crumbs and whoAmI.

Out of scope, and why:

* ``ApiTokenPropertyTest#security49Upgrade``: the package-private seed constructor and the
  pre-1.x initial value; no HTTP, and the fake has no such history.
* ``ApiTokenPropertyTest#postWithUsernameAndTokenInBasicAuthHeader``: builds a job; the fake
  has no jobs (its CSRF half is ``ApiCrumbExclusionTest``'s, mirrored).
* ``ApiTokenPropertyTest#basics``' form round-trip (``j.submit(form)``, ``assertSame``):
  the fake does not take configuration form submissions.
* ``ApiTokenPropertyConfigurationTest#newUserTokenConfiguration`` with
  ``tokenGenerationOnCreationEnabled=true``, and
  ``BasicHeaderApiTokenAuthenticatorTest#legacyToken_withoutLastGrantedAuthorities``: the fake
  does not emulate that setting (a user made on the fly by its derived legacy token).
* ``LegacyApiTokenAdministrativeMonitorTest``: the ``manage`` page, its filters and
  buttons (``monitorManagePageFilterAreWorking``, the counts of page classes): the fake does
  not serve that page; the monitor's methods the page calls and the page's POST
  (``revokeAllSelected``) are mirrored instead.
* ``ApiTokenStatsTest`` of ``core/`` (a unit test of the statistics file) and
  ``GlobalCrumbIssuerConfigurationTest`` (the ``configureSecurity`` page): no HTTP the fake
  emulates. There is no ``ApiTokenStoreTest`` in jenkinsci/jenkins, at master or in its
  history.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.fakejenkins.parity import (
    Hidden,
    assert_connected,
    assert_not_connected,
    form_login,
    legacy_input,
    prop,
    script,
    token_url,
    users,
)
from tests.fixtures.jenkins import crumb_session

NO_LEGACY = "This user currently does not have a legacy token"
CAPABILITY_NOT_ALLOWED = ("Capability to generate a legacy token without an existing one is "
                          "currently disabled in the security configuration")
MONITOR = "ExtensionList.lookupSingleton(jenkins.security.apitoken.LegacyApiTokenAdministrativeMonitor)"


def same(a: str | None, b: str | None) -> bool:
    """Token values are compared outside assert statements, so that no failure shows one."""
    return (a or "").strip() == (b or "").strip()


def size(fake, user: str, as_user: str = "admin") -> int:
    return int(script(fake, f"println {prop(user)}.tokenStore.tokenListSortedByName.size()",
                      as_user=as_user))


def made(fake, call: str, user: str = "user") -> tuple[str, str]:
    """Run ``<property>.<call>`` (a TokenUuidAndPlainValue); its (uuid, value)."""
    uuid, value = script(fake, f"def t = {prop(user)}.{call}\nprintln t.tokenUuid + ' ' + t.plainValue",
                         as_user="admin").split()
    return uuid, Hidden(value)


# -- ApiTokenPropertyTest ---------------------------------------------------------------------

def test_basics(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#basics: the user's legacy token (made on creation) is
    its own getApiToken, logs in as that user, and is on its security page."""
    fake = make_fake_jenkins(users=users("foo", legacy=("foo",)))
    token = Hidden(script(fake, f"println {prop('foo')}.apiToken", as_user="foo").strip())
    own = same(token, fake.legacy_token("foo"))
    assert own, "User is unable to get its own token"
    assert_connected(fake, "foo", auth=("foo", token))
    page = requests.get(fake.url + "user/foo/security/", auth=("foo", "foo"), timeout=10).text
    shown = same(legacy_input(page), token)
    assert shown, "the security page does not show the user its token"


def test_admins_should_be_unable_to_see_tokens_by_default(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#adminsShouldBeUnableToSeeTokensByDefault."""
    fake = make_fake_jenkins(users=users("foo", "bar", legacy=("foo", "bar")))
    script(fake, f"{prop('foo')}.generateNewToken('test')", as_user="foo")
    page = requests.get(fake.url + "user/foo/security/", auth=("bar", Hidden(fake.legacy_token("bar"))),
                        timeout=10).text
    assert legacy_input(page) == "Token is hidden"


def test_admins_should_be_unable_to_change_tokens_by_default(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#adminsShouldBeUnableToChangeTokensByDefault."""
    fake = make_fake_jenkins(users=users("foo", "bar", legacy=("foo", "bar")))
    bar = ("bar", Hidden(fake.legacy_token("bar")))
    url = token_url(fake, "foo", "changeToken")
    assert requests.get(url, auth=bar, timeout=10).status_code == 405
    r = requests.post(url, auth=bar, timeout=10)
    assert r.status_code == 200
    assert r.text == "<div>Updated. You need to login as the user to see the token</div>"


def test_generate_new_token_without_name(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#generateNewTokenWithoutName (a crumb instead of no
    crumb issuer: the fake always has one)."""
    fake = make_fake_jenkins(users=users("admin"))
    wc = crumb_session(fake, "admin", "admin")
    first = wc.post(token_url(fake, "admin", "generateNewToken/?newTokenName="), timeout=10)
    assert first.status_code == 200 and first.json()["data"]["tokenName"].strip() != ""
    second = wc.post(token_url(fake, "admin", "generateNewToken/?newTokenName=New Token"), timeout=10)
    assert second.status_code == 200 and second.json()["data"]["tokenName"] == "New Token"


def test_migration_from_legacy_token(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#migrationFromLegacyToken (its @LocalData admin with a
    legacy token is a fake user with one)."""
    fake = make_fake_jenkins(users=users("admin", legacy=("admin",)))
    assert script(fake, "println User.getById('admin', false) != null", as_user="admin") == "true\n"
    assert_connected(fake, "admin", auth=("admin", "admin"))
    local_legacy = Hidden(fake.legacy_token("admin"))
    assert_connected(fake, "admin", auth=("admin", local_legacy))
    assert script(fake, f"println {prop('admin')}.tokenList.size()", as_user="admin") == "1\n"
    script(fake, f"{prop('admin')}.changeApiToken()", as_user="admin")
    assert script(fake, f"println {prop('admin')}.tokenList.size()", as_user="admin") == "1\n"
    new_legacy = Hidden(fake.legacy_token("admin"))
    assert_connected(fake, "admin", auth=("admin", new_legacy))
    assert_not_connected(fake, ("admin", local_legacy))
    legacy_uuid = script(fake, f"println {prop('admin')}.tokenStore.legacyToken?.uuid", as_user="admin").strip()
    assert legacy_uuid != "null"
    r = requests.post(token_url(fake, "admin", f"revoke/?tokenUuid={legacy_uuid}"),
                      auth=("admin", new_legacy), timeout=10)
    assert r.status_code == 200
    assert script(fake, f"println {prop('admin')}.tokenList.size()", as_user="admin") == "0\n"
    assert_not_connected(fake, ("admin", new_legacy))
    assert_not_connected(fake, ("admin", local_legacy))
    assert_connected(fake, "admin", auth=("admin", "admin"))
    wc = form_login(fake, "admin")
    r = wc.post(token_url(fake, "admin", "generateNewToken/?newTokenName=New Token"), timeout=10)
    assert r.status_code == 200
    assert_connected(fake, "admin", auth=("admin", Hidden(r.json()["data"]["tokenValue"])))


def _change_legacy(fake, wc, success: bool) -> None:
    """ApiTokenPropertyTest#changeLegacyToken."""
    r = wc.post(token_url(fake, "user", "changeToken/"), timeout=10)
    assert r.status_code == 200
    assert (CAPABILITY_NOT_ALLOWED in r.text) is not success


def _revoke_where(fake, wc, condition: str) -> None:
    """ApiTokenPropertyTest#revokeAllTokenUsingFilter: revoke/?tokenUuid= for each match."""
    listed = script(fake, f"println {prop('user')}.tokenStore.tokenListSortedByName"
                          f".findAll {{ {condition} }}*.uuid.join(' ')", as_user="user").split()
    for uuid in listed:
        assert wc.post(token_url(fake, "user", f"revoke/?tokenUuid={uuid}"), timeout=10).status_code == 200


def _api_token(fake) -> str:
    return Hidden(script(fake, f"println {prop('user')}.apiToken", as_user="user").strip())


def _change_by_direct_call(fake) -> None:
    script(fake, f"{prop('user')}.changeApiToken()", as_user="user")
    refused = CAPABILITY_NOT_ALLOWED in _api_token(fake)
    assert not refused


def _combinations(fake, wc) -> None:
    """ApiTokenPropertyTest#checkCombinationWithConfigAndMethodForLegacyTokenCreation."""
    fake.state.creation_of_legacy_token_enabled = True
    _change_legacy(fake, wc, True)
    refused = CAPABILITY_NOT_ALLOWED in _api_token(fake)
    assert not refused
    _revoke_where(fake, wc, "it.legacy")
    _change_by_direct_call(fake)
    _revoke_where(fake, wc, "it.legacy")
    _revoke_where(fake, wc, "true")
    fake.state.creation_of_legacy_token_enabled = False
    _change_legacy(fake, wc, False)
    none = same(_api_token(fake), NO_LEGACY)
    assert none, "getApiToken is not the no-legacy-token message"
    _revoke_where(fake, wc, "it.legacy")
    _change_by_direct_call(fake)
    _revoke_where(fake, wc, "it.legacy")


def test_legacy_token_change(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#legacyTokenChange (the configuration switched on the
    fake's state; a crumb instead of no crumb issuer)."""
    fake = make_fake_jenkins(users=users("admin", "user", legacy=("user",)))
    wc = crumb_session(fake, "user", "user")
    current = _api_token(fake)
    assert size(fake, "user") == 1
    for enabled in (True, False):
        fake.state.creation_of_legacy_token_enabled = enabled
        _change_legacy(fake, wc, True)
        changed = _api_token(fake)
        differs = not same(changed, current)
        assert differs, "changeToken kept the value"
        script(fake, f"{prop('user')}.changeApiToken()", as_user="user")
        changed_again = _api_token(fake)
        differs = not same(changed_again, changed) and not same(changed_again, current)
        assert differs, "changeApiToken kept a value"
        current = changed_again
    _revoke_where(fake, wc, "true")
    _combinations(fake, wc)
    wc.post(token_url(fake, "user", "generateNewToken/?newTokenName=New token"), timeout=10)
    _combinations(fake, wc)


def test_script_add_fixed_new_token_regular(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#script_addFixedNewToken_Regular."""
    fake = make_fake_jenkins(users=users("admin", "user"))
    before = size(fake, "user")
    value = "110123456789abcdef0123456789abcdef"
    script(fake, f"{prop('user')}.addFixedNewToken('fixed-token', '{value}')", as_user="admin")
    assert size(fake, "user") == before + 1
    assert_connected(fake, "user", auth=("user", value))


@pytest.mark.parametrize("name, value", [
    ("invalid-token: too-long", "110123456789abcdef0123456789abcdefg"),
    ("invalid-token: too-short", "110123456789abcdef0123456789abcde"),
    ("invalid-token: non-hex", "110123456789abcdef0123456789abcdeg"),
    ("invalid-token: invalid-version", "120123456789abcdef0123456789abcdef"),
])
def test_script_add_fixed_new_token_invalid(make_fake_jenkins, name, value):
    """Mirrors ApiTokenPropertyTest#script_addFixedNewToken_Invalid."""
    fake = make_fake_jenkins(users=users("admin", "user"))
    before = size(fake, "user")
    out = script(fake, f"{prop('user')}.addFixedNewToken('{name}', '{value}')", as_user="admin")
    assert out.startswith("java.lang.IllegalArgumentException: ")
    assert size(fake, "user") == before


@pytest.mark.parametrize("when, works", [
    ("", True), ("java.time.LocalDate.now().plusDays(1)", True),
    ("java.time.LocalDate.now().minusDays(1)", False)])
def test_script_generate_new_token(make_fake_jenkins, when, works):
    """Mirrors ApiTokenPropertyTest#script_generateNewToken, #script_generateNewExpiringToken
    and #script_expiredTokenIsInvalid."""
    fake = make_fake_jenkins(users=users("admin", "user"))
    before = size(fake, "user")
    check = assert_connected if works else (lambda fake, user, auth: assert_not_connected(fake, auth))
    for n in (1, 2, 3):
        _, value = made(fake, f"generateNewToken('token{n}'{', ' + when if when else ''})")
        if n == 1:
            assert size(fake, "user") == before + 1
        check(fake, "user", auth=("user", value))
    assert size(fake, "user") == before + 3


def test_script_revoke_all_tokens(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#script_revokeAllTokens."""
    fake = make_fake_jenkins(users=users("admin", "user", legacy=("user",)))
    for call in ("", "generateNewToken('token1')",
                 "generateNewToken('token2', java.time.LocalDate.now().plusDays(1))"):
        if call:
            script(fake, f"{prop('user')}.{call}", as_user="admin")
        script(fake, f"{prop('user')}.revokeAllTokens()", as_user="admin")
        assert size(fake, "user") == 0
    value = "110123456789abcdef0123456789abcdef"
    script(fake, f"{prop('user')}.addFixedNewToken('fixed-token', '{value}')", as_user="admin")
    assert_connected(fake, "user", auth=("user", value))
    script(fake, f"{prop('user')}.revokeAllTokens()", as_user="admin")
    assert_not_connected(fake, ("user", value))
    assert size(fake, "user") == 0


def test_script_revoke_all_tokens_except_one(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#script_revokeAllTokensExceptOne."""
    fake = make_fake_jenkins(users=users("admin", "user", legacy=("user",)))
    made(fake, "generateNewToken('token0')")
    uuid1, value1 = made(fake, "generateNewToken('token1')")
    _, value2 = made(fake, "generateNewToken('token2')")
    made(fake, "generateNewToken('token3')")
    assert_connected(fake, "user", auth=("user", value1))
    assert_connected(fake, "user", auth=("user", value2))
    script(fake, f"{prop('user')}.revokeAllTokensExceptOne('{uuid1}')", as_user="admin")
    assert_connected(fake, "user", auth=("user", value1))
    assert_not_connected(fake, ("user", value2))
    listed = f"println {prop('user')}.tokenStore.tokenListSortedByName*.uuid"
    assert script(fake, listed, as_user="admin") == f"[{uuid1}]\n"
    fixed = "110123456789abcdef0123456789abcdef"
    script(fake, f"{prop('user')}.addFixedNewToken('fixed-token', '{fixed}')", as_user="admin")
    uuid4, value4 = made(fake, "generateNewToken('token4')")
    script(fake, f"{prop('user')}.revokeAllTokensExceptOne('{uuid4}')", as_user="admin")
    assert script(fake, listed, as_user="admin") == f"[{uuid4}]\n"
    assert_not_connected(fake, ("user", value1))
    assert_not_connected(fake, ("user", fixed))
    assert_connected(fake, "user", auth=("user", value4))


def test_script_revoke_token(make_fake_jenkins):
    """Mirrors ApiTokenPropertyTest#script_revokeToken."""
    fake = make_fake_jenkins(users=users("admin", "user", legacy=("user",)))
    script(fake, f"{prop('user')}.revokeAllTokens()", as_user="admin")
    tokens = [made(fake, f"generateNewToken('token{n}')") for n in (1, 2, 3)]
    working = {0: True, 1: True, 2: True}
    for revoked in (None, 0, 2, "invalid-uuid"):
        if revoked is not None:
            uuid = revoked if isinstance(revoked, str) else tokens[revoked][0]
            script(fake, f"{prop('user')}.revokeToken('{uuid}')", as_user="admin")
            if not isinstance(revoked, str):
                working[revoked] = False
        for n, (_, value) in enumerate(tokens):
            if working[n]:
                assert_connected(fake, "user", auth=("user", value))
            else:
                assert_not_connected(fake, ("user", value))


# -- ApiTokenStatsTest, ApiTokenStatsRestartTest ----------------------------------------------

def _roundtrip_first_half(fake, wc) -> tuple[str, str]:
    """The first half of ApiTokenStatsTest#roundtrip (and of the restart test's first session)."""
    stored = script(fake, f"def p = {prop('foo')}\nprintln([p.tokenStore != null, p.tokenStats != null])",
                    as_user="foo")
    assert stored == "[true, true]\n"
    r = wc.post(token_url(fake, "foo", "generateNewToken"), data={"newTokenName": "New Token Name"},
                timeout=10)
    assert r.status_code == 200
    data = r.json()["data"]
    data["tokenValue"] = Hidden(data["tokenValue"])
    assert data["tokenName"] == "New Token Name"
    assert_connected(fake, "foo", auth=("foo", data["tokenValue"]))
    _page_shows(fake, wc, data["tokenUuid"], 1)
    for _ in range(4):
        assert_connected(fake, "foo", auth=("foo", data["tokenValue"]))
    _page_shows(fake, wc, data["tokenUuid"], 5)
    return data["tokenUuid"], data["tokenValue"]


def _page_shows(fake, wc, uuid: str, count: int | None) -> None:
    page = wc.get(fake.url + "user/foo/security/", timeout=10)
    assert page.status_code == 200
    if count is None:
        assert uuid not in page.text and "New Token Name" not in page.text
    else:
        assert uuid in page.text and "New Token Name" in page.text
        assert f'<span class="token-use-counter">{count}</span>' in page.text


def test_api_token_stats_roundtrip(make_fake_jenkins):
    """Mirrors ApiTokenStatsTest#roundtrip (a crumb instead of no crumb issuer)."""
    fake = make_fake_jenkins(users=users("foo"))
    wc = crumb_session(fake, "foo", "foo")
    uuid, value = _roundtrip_first_half(fake, wc)
    assert wc.post(token_url(fake, "foo", f"revoke/?tokenUuid={uuid}"), timeout=10).status_code == 200
    assert_not_connected(fake, ("foo", value))
    _page_shows(fake, wc, uuid, None)


def test_api_token_stats_roundtrip_with_restart(make_fake_jenkins):
    """Mirrors ApiTokenStatsRestartTest#roundtripWithRestart: the statistics survive a restart."""
    fake = make_fake_jenkins(users=users("foo"))
    uuid, value = _roundtrip_first_half(fake, crumb_session(fake, "foo", "foo"))
    fake.restart()
    assert script(fake, "println User.getById('foo', false) != null", as_user="foo") == "true\n"
    wc = form_login(fake, "foo")
    assert_connected(fake, "foo", session=wc)
    _page_shows(fake, wc, uuid, 5)
    assert wc.post(token_url(fake, "foo", f"revoke/?tokenUuid={uuid}"), timeout=10).status_code == 200
    assert_not_connected(fake, ("foo", value))
    _page_shows(fake, wc, uuid, None)


# -- ApiTokenPropertyConfigurationTest ----------------------------------------------------------

def test_new_user_token_configuration(make_fake_jenkins):
    """Mirrors ApiTokenPropertyConfigurationTest#newUserTokenConfiguration, its second half
    (tokenGenerationOnCreationEnabled=false, the default). Jenkins' test reads getApiToken
    as SYSTEM; the console runs as an administrator, who is shown "Token is hidden", so
    the value is read with getApiTokenInsecure."""
    fake = make_fake_jenkins(users=users("admin"))
    out = script(fake, "def p = User.getById('userWithout', true).getProperty(jenkins.security.ApiTokenProperty)\n"
                       "println([p.hasLegacyToken(), p.tokenList.size(), p.apiTokenInsecure].join('|'))",
                 as_user="admin")
    assert out == f"false|0|{NO_LEGACY}\n"


# -- LegacyApiTokenAdministrativeMonitorTest -----------------------------------------------------

def test_monitor_is_active(make_fake_jenkins):
    """Mirrors LegacyApiTokenAdministrativeMonitorTest#isActive."""
    fake = make_fake_jenkins(users=users("admin", "user"), creation_of_legacy_token_enabled=True)
    active = f"println {MONITOR}.activated"
    assert script(fake, f"println {prop('user')}.hasLegacyToken()", as_user="admin") == "false\n"
    assert script(fake, active, as_user="admin") == "false\n"
    uuid, _ = script(fake, f"def t = {prop('user')}.tokenStore.generateNewToken('Not Legacy')\n"
                           "println t.tokenUuid + ' x'", as_user="admin").split()
    assert script(fake, active, as_user="admin") == "false\n"
    script(fake, f"{prop('user')}.tokenStore.revokeToken('{uuid}')", as_user="admin")
    assert script(fake, active, as_user="admin") == "false\n"
    script(fake, f"{prop('user')}.changeApiToken()", as_user="admin")
    assert script(fake, active, as_user="admin") == "true\n"


def _revoke_selected(fake, values: list[dict]) -> None:
    r = requests.post(fake.url + "administrativeMonitor/legacyApiToken/revokeAllSelected",
                      auth=("admin", fake.add_token("admin", name="monitor")[1]),
                      data=json.dumps({"values": values}),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200


def test_monitor_takes_care_of_user_with_id_null(make_fake_jenkins):
    """Mirrors LegacyApiTokenAdministrativeMonitorTest#takeCareOfUserWithIdNull: the page's
    POST with a JSON ``null`` user id revokes user "null"'s legacy token."""
    fake = make_fake_jenkins(users=users("admin", "null"), creation_of_legacy_token_enabled=True)
    assert script(fake, f"println {prop('null')}.hasLegacyToken()", as_user="admin") == "false\n"
    assert script(fake, f"println {MONITOR}.activated", as_user="admin") == "false\n"
    script(fake, f"{prop('null')}.changeApiToken()", as_user="admin")
    assert script(fake, f"println {MONITOR}.activated", as_user="admin") == "true\n"
    uuid = script(fake, f"println {prop('null')}.tokenStore.legacyToken.uuid", as_user="admin").strip()
    _revoke_selected(fake, [{"userId": None, "uuid": uuid}])
    assert script(fake, f"println {MONITOR}.activated", as_user="admin") == "false\n"


COUNTS = (f"def m = {MONITOR}\ndef impacted = m.impactedUserList\n"
          "def stats = { u -> m.getLegacyStatsOf(u, m.getLegacyTokenOf(u)) }\n"
          "println([impacted.size(), impacted.count { m.hasFreshToken(it, stats(it)) },\n"
          "         impacted.count { m.hasMoreRecentlyUsedToken(it, stats(it)) }].join(' '))")
KINDS = [(False, False)] + [(True, False)] * 2 + [(False, True)] * 3 + [(True, True)] * 4


def _user_with_token(fake, name: str, fresh: bool, recent: bool) -> None:
    """LegacyApiTokenAdministrativeMonitorTest#createUserWithToken (legacy always)."""
    script(fake, f"{prop(name)}.changeApiToken()", as_user="admin")
    legacy = (name, Hidden(fake.legacy_token(name)))
    if fresh:
        assert_connected(fake, name, auth=legacy)
        time.sleep(0.01)
        _, value = made(fake, "tokenStore.generateNewToken('Fresh token')", user=name)
        if recent:
            assert_connected(fake, name, auth=(name, value))
    elif recent:
        _, value = made(fake, "tokenStore.generateNewToken('Recent token')", user=name)
        time.sleep(0.01)
        assert_connected(fake, name, auth=legacy)
        time.sleep(0.01)
        assert_connected(fake, name, auth=(name, value))


def test_monitor_lists_and_revokes_the_selected_legacy_tokens(make_fake_jenkins):
    """Mirrors LegacyApiTokenAdministrativeMonitorTest#listOfUserWithLegacyTokenIsCorrect and
    #monitorManagePageCanRevokeToken through the monitor's methods that its page calls
    (impacted users, fresh, recent) and the page's POST (revokeAllSelected)."""
    names = [f"u{n}" for n in range(len(KINDS))]
    fake = make_fake_jenkins(users=users("admin", *names), creation_of_legacy_token_enabled=True)
    assert script(fake, COUNTS, as_user="admin") == "0 0 0\n"                    # no user with one
    assert script(fake, f"println {prop('u0')}.hasLegacyToken()", as_user="admin") == "false\n"
    script(fake, f"{prop('u0')}.tokenStore.generateNewToken('Not legacy')", as_user="admin")
    assert script(fake, f"println {prop('u0')}.hasLegacyToken()", as_user="admin") == "false\n"
    assert script(fake, COUNTS, as_user="admin") == "0 0 0\n"
    for name, (fresh, recent) in zip(names, KINDS):
        _user_with_token(fake, name, fresh, recent)
    assert script(fake, COUNTS, as_user="admin") == f"{1 + 2 + 3 + 4} {2 + 4} {3 + 4}\n"
    assert script(fake, f"println {MONITOR}.activated", as_user="admin") == "true\n"

    def selected(only_fresh: bool) -> list[dict]:
        listed = script(fake, f"def m = {MONITOR}\nm.impactedUserList.each {{ u ->\n"
                              "  def t = m.getLegacyTokenOf(u)\n"
                              "  println u.id + ' ' + t.uuid + ' ' + m.hasFreshToken(u, m.getLegacyStatsOf(u, t)) }\n"
                              "null",      # else each's list is the value, and a Result: line follows
                        as_user="admin").split("\n")
        rows = [line.split() for line in listed if line]
        return [{"userId": u, "uuid": t} for u, t, fresh in rows if fresh == "true" or not only_fresh]

    _revoke_selected(fake, selected(only_fresh=True))
    assert script(fake, COUNTS, as_user="admin") == f"{1 + 3} 0 3\n"
    assert script(fake, f"println {MONITOR}.activated", as_user="admin") == "true\n"
    _revoke_selected(fake, selected(only_fresh=False))
    assert script(fake, COUNTS, as_user="admin") == "0 0 0\n"
    assert script(fake, f"println {MONITOR}.activated", as_user="admin") == "false\n"
