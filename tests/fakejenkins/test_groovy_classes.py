"""The Jenkins-shaped classes of the fake's script console, backed by the fake's state.

``User``, ``ApiTokenProperty``, its ``ApiTokenStore`` and ``ApiTokenStats``, ``Jenkins``
(plugin/jenkins_broker/fakejenkins/groovy/): what a script does to them is what the fake's
HTTP side sees at once (a token a script makes logs in on whoAmI, one it revokes answers
401), and the emulated version decides which methods exist, with the signatures of
Jenkins core's source for that line. Needs Groovy (skipped without it).
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from jenkins_broker.fakejenkins import FakeUser
from tests.fakejenkins.parity import Hidden
from tests.fixtures.jenkins import crumb_session

PROP = "def p = User.getById('ci-bot', false).getProperty(jenkins.security.ApiTokenProperty)\n"


def script(fake, text: str, *, as_user: str = "admin") -> str:
    """Run ``text`` on /scriptText as ``as_user`` (an administrator); the body."""
    key = f"_token_{as_user}"
    if not hasattr(fake, key):
        new_tokens = fake.state.features.new_tokens
        setattr(fake, key, fake.add_token(as_user, name="console")[1] if new_tokens
                else fake.legacy_token(as_user))
    session = requests.Session()
    if not fake.state.features.token_csrf_exempt:          # before 2.96 a token needs a crumb too
        session = crumb_session(fake, as_user, getattr(fake, key))
    r = session.post(fake.url + "scriptText", auth=(as_user, getattr(fake, key)),
                     data={"script": text}, timeout=30)
    assert r.status_code == 200
    return r.text


def login(fake, user: str, secret: str, expected: int) -> None:
    """whoAmI with ``secret`` answers ``expected``; a failure does not show the secret."""
    status = requests.get(fake.url + "whoAmI/api/json", auth=(user, secret), timeout=10).status_code
    assert status == expected, f"whoAmI as {user}: {status}, expected {expected}"


def same(a: str | None, b: str | None) -> bool:
    """Token values are compared outside assert statements, so that no failure shows one."""
    return (a or "").strip() == (b or "").strip()


# -- backed by the fake's state --------------------------------------------------------------

def test_a_token_a_script_makes_logs_in_and_one_it_revokes_answers_401(fake_jenkins):
    made = script(fake_jenkins, PROP + "def t = p.tokenStore.generateNewToken('by-script')\n"
                                      "println t.tokenUuid + ' ' + t.plainValue").split()
    uuid, value = made[0], Hidden(made[1])
    assert [t["name"] for t in fake_jenkins.tokens("ci-bot")] == ["by-script"]
    shaped = len(value) == 34 and value.startswith("11")
    assert shaped, "the value is not 11 and 32 hex digits"
    login(fake_jenkins, "ci-bot", value, 200)
    assert script(fake_jenkins, PROP + f"println p.tokenStore.revokeToken('{uuid}')?.name") == "by-script\n"
    login(fake_jenkins, "ci-bot", value, 401)
    assert script(fake_jenkins, PROP + f"println p.tokenStore.revokeToken('{uuid}')") == "null\n"


def test_the_property_methods_save_and_revoke_with_statistics(fake_jenkins):
    uuid, shown = script(fake_jenkins, PROP + "def t = p.generateNewToken('a')\n"
                                              "println t.tokenUuid + ' ' + t.plainValue").split()
    value = Hidden(shown)
    keep, kept = fake_jenkins.add_token("ci-bot", name="keep")
    kept_value = Hidden(kept)
    login(fake_jenkins, "ci-bot", value, 200)
    counted = script(fake_jenkins, PROP + f"println p.tokenStats.findTokenStatsById('{uuid}').useCounter")
    assert counted == "1\n"
    assert script(fake_jenkins, PROP + f"p.tokenStats.removeId('{uuid}')\n"
                                       f"println p.tokenStats.findTokenStatsById('{uuid}').useCounter") == "0\n"
    script(fake_jenkins, PROP + f"p.revokeAllTokensExceptOne('{keep}')")
    login(fake_jenkins, "ci-bot", value, 401)
    login(fake_jenkins, "ci-bot", kept_value, 200)
    script(fake_jenkins, PROP + "p.revokeAllTokens()")
    assert fake_jenkins.tokens("ci-bot") == []


def test_find_matching_token_does_not_count_a_use_and_matches_password_does(fake_jenkins):
    uuid, fresh = fake_jenkins.add_token("ci-bot", name="m")
    value = Hidden(fresh)
    found = script(fake_jenkins, PROP + f"println p.tokenStore.findMatchingToken('{value}').uuid")
    assert found == uuid + "\n" and fake_jenkins.tokens("ci-bot")[0]["use_counter"] == 0
    matched = script(fake_jenkins, PROP + f"println p.matchesPassword('{value}')")
    assert matched == "true\n"
    assert script(fake_jenkins, PROP + "println p.matchesPassword('11' + '0' * 32)") == "false\n"
    assert script(fake_jenkins, PROP + "println p.matchesPassword(' ')") == "false\n"
    assert fake_jenkins.tokens("ci-bot")[0]["use_counter"] == 1


def test_add_fixed_token_checks_the_value_as_jenkins_does(fake_jenkins):
    bad = script(fake_jenkins, PROP + "p.addFixedNewToken('f', '12' + 'a' * 32)")
    assert bad.startswith("java.lang.IllegalArgumentException: The given version is not recognized: 12\n")
    short = script(fake_jenkins, PROP + "p.addFixedNewToken('f', 'abc')")
    assert short.startswith("java.lang.IllegalArgumentException: The token must consist of 2 "
                            "characters for the version and 32 hex-characters for the secret\n")
    value = "11" + "AB" * 16
    uuid = script(fake_jenkins, PROP + f"println p.addFixedNewToken('fixed', '{value}')").strip()
    assert [t["uuid"] for t in fake_jenkins.tokens("ci-bot")] == [uuid]
    login(fake_jenkins, "ci-bot", "11" + "ab" * 16, 200)     # the secret is lower-cased


def test_rename_through_the_store_and_through_a_listed_token(fake_jenkins):
    uuid, _ = fake_jenkins.add_token("ci-bot", name="old")
    assert script(fake_jenkins, PROP + f"println p.tokenStore.renameToken('{uuid}', 'new')") == "true\n"
    assert script(fake_jenkins, PROP + "println p.tokenStore.renameToken('nope', 'x')") == "false\n"
    script(fake_jenkins, PROP + "p.tokenStore.tokenListSortedByName[0].rename('newer')")
    assert [t["name"] for t in fake_jenkins.tokens("ci-bot")] == ["newer"]


def test_the_token_list_sorts_by_name_and_a_nameless_token_breaks_it(fake_jenkins):
    fake_jenkins.add_token("ci-bot", name="b")
    fake_jenkins.add_token("ci-bot", name="A")
    listing = PROP + "println p.tokenList.collect { it.name }"
    assert script(fake_jenkins, listing) == "[A, b]\n"
    script(fake_jenkins, PROP + "p.tokenStore.generateNewToken(null)")
    broken = script(fake_jenkins, listing)
    assert broken.startswith('java.lang.NullPointerException: Cannot invoke "String.toLowerCase('
                             'java.util.Locale)" because the return value of "jenkins.security.'
                             'apitoken.ApiTokenStore$HashedToken.getName()" is null\n')


def test_add_property_of_a_new_token_property_drops_every_token(fake_jenkins):
    value = Hidden(fake_jenkins.add_token("ci-bot", name="x")[1])
    script(fake_jenkins, "User.getById('ci-bot', false).addProperty(new jenkins.security.ApiTokenProperty())")
    assert fake_jenkins.tokens("ci-bot") == []
    login(fake_jenkins, "ci-bot", value, 401)
    assert script(fake_jenkins, "println new jenkins.security.ApiTokenProperty().tokenStore") == "null\n"


def test_user_lookups(make_fake_jenkins):
    fake = make_fake_jenkins(users=[FakeUser("admin", "adminpw", admin=True),
                                    FakeUser("ci-bot", "botpw", full_name="CI Bot")])
    assert script(fake, "println User.getById('CI-BOT', false).id") == "ci-bot\n"
    assert script(fake, "println User.getById('CI Bot', false)") == "null\n"
    assert script(fake, "println User.get('CI Bot', false).id") == "ci-bot\n"
    assert script(fake, "println User.get('CI Bot', false).fullName") == "CI Bot\n"
    assert script(fake, "println User.getById('ci-bot', false).is(User.get('CI-bot', false))") == "true\n"
    assert script(fake, "println User.getAll()*.id") == "[admin, ci-bot]\n"
    assert script(fake, "println User.current()") == "admin\n"


def test_a_user_a_script_creates_is_not_in_the_realm(fake_jenkins):
    made = script(fake_jenkins, "def u = User.getById('newbie', true)\n"
                                "def t = u.getProperty(jenkins.security.ApiTokenProperty)"
                                ".tokenStore.generateNewToken('n')\nprintln t.plainValue")
    assert [t["name"] for t in fake_jenkins.tokens("newbie")] == ["n"]
    # The token matches, impersonation fails: BasicHeaderApiTokenAuthenticator throws
    # (docs/jenkins-behaviour.md §2).
    login(fake_jenkins, "newbie", Hidden(made.strip()), 500)
    login(fake_jenkins, "newbie", "11" + "0" * 32, 401)


def test_the_fake_clock_is_the_scripts_today(fake_jenkins):
    fake_jenkins.today = dt.date(2030, 1, 2)
    assert script(fake_jenkins, "println java.time.LocalDate.now()") == "2030-01-02\n"
    assert script(fake_jenkins, "import java.time.LocalDate\nprintln LocalDate.now().plusDays(1)") == "2030-01-03\n"
    fake_jenkins.today = None
    assert script(fake_jenkins, "println java.time.LocalDate.now()") == dt.date.today().isoformat() + "\n"


# -- the legacy token -------------------------------------------------------------------------

@pytest.fixture
def legacy_fake(make_fake_jenkins):
    return make_fake_jenkins(users=[FakeUser("admin", "adminpw", admin=True, legacy_token=True),
                                    FakeUser("ci-bot", "botpw", legacy_token=True)])


def test_the_legacy_token_is_hidden_from_others_and_shown_to_its_owner(legacy_fake):
    admin_prop = "User.current().getProperty(jenkins.security.ApiTokenProperty)"
    own = same(script(legacy_fake, f"println {admin_prop}.apiToken"), legacy_fake.legacy_token("admin"))
    assert own, "the owner is not shown its legacy token"
    assert script(legacy_fake, PROP + "println p.apiToken") == "Token is hidden\n"
    insecure = same(script(legacy_fake, PROP + "println p.apiTokenInsecure"), legacy_fake.legacy_token("ci-bot"))
    assert insecure, "getApiTokenInsecure is not the legacy token"
    assert script(legacy_fake, PROP + "println p.hasLegacyToken()") == "true\n"


def test_change_delete_and_revoke_the_legacy_token(legacy_fake):
    old = Hidden(legacy_fake.legacy_token("ci-bot"))
    script(legacy_fake, PROP + "p.changeApiToken()")
    new = Hidden(legacy_fake.legacy_token("ci-bot"))
    changed = not same(new, old)
    assert changed, "changeApiToken kept the value"
    login(legacy_fake, "ci-bot", old, 401)
    login(legacy_fake, "ci-bot", new, 200)
    # deleteApiToken forgets the secret, not the store's entry: the value still logs in.
    script(legacy_fake, PROP + "p.deleteApiToken()")
    assert script(legacy_fake, PROP + "println p.hasLegacyToken()") == "false\n"
    assert script(legacy_fake, PROP + "println p.apiTokenInsecure") == \
        "This user currently does not have a legacy token\n"
    login(legacy_fake, "ci-bot", new, 200)
    legacy = script(legacy_fake, PROP + "println p.tokenStore.legacyToken.uuid").strip()
    script(legacy_fake, PROP + f"p.revokeToken('{legacy}')")
    login(legacy_fake, "ci-bot", new, 401)
    assert legacy_fake.tokens("ci-bot") == []


# -- each version line has its own methods ------------------------------------------------------

def test_before_2_98_there_is_no_jenkins_get(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.89")
    assert script(fake, "println Jenkins.getInstance().getClass().name") == "hudson.model.Hudson\n"
    assert script(fake, "Jenkins.get()").startswith(
        "groovy.lang.MissingMethodException: No signature of method: static jenkins.model.Jenkins.get() "
        "is applicable for argument types: () values: []\n")


def test_before_2_129_only_the_legacy_token(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.107.3")
    assert script(fake, PROP + "p.tokenStore").startswith(
        "groovy.lang.MissingPropertyException: No such property: tokenStore for class: "
        "jenkins.security.ApiTokenProperty\n")
    assert script(fake, "import jenkins.security.apitoken.ApiTokenStore").startswith(
        "org.codehaus.groovy.control.MultipleCompilationErrorsException: startup failed:\n"
        "Script1.groovy: 1: unable to resolve class jenkins.security.apitoken.ApiTokenStore\n")
    old = Hidden(fake.legacy_token("ci-bot"))
    script(fake, PROP + "p.changeApiToken()")
    login(fake, "ci-bot", old, 401)
    login(fake, "ci-bot", Hidden(fake.legacy_token("ci-bot")), 200)


def test_from_2_129_to_2_259_the_store_without_the_scripting_methods(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.204.6")
    made = script(fake, PROP + "println p.tokenStore.generateNewToken('s').getClass().name")
    assert made == "jenkins.security.apitoken.ApiTokenStore$TokenUuidAndPlainValue\n"
    assert script(fake, PROP + "p.generateNewToken('x')").startswith(
        "groovy.lang.MissingMethodException: No signature of method: "
        "jenkins.security.ApiTokenProperty.generateNewToken() is applicable for argument types: "
        "(java.lang.String) values: [x]\n")
    assert script(fake, PROP + "p.tokenStore.revokeAllTokens()").startswith(
        "groovy.lang.MissingMethodException: No signature of method: "
        "jenkins.security.apitoken.ApiTokenStore.revokeAllTokens()")
    assert script(fake, PROP + "p.tokenStats.removeAll()").startswith("groovy.lang.MissingMethodException")


def test_from_2_260_to_2_547_no_expiry(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.541.3")
    made = script(fake, PROP + "println p.generateNewToken('s').getClass().name")
    assert made == "jenkins.security.apitoken.TokenUuidAndPlainValue\n"
    assert script(fake, PROP + "p.tokenStore.generateNewToken('e', java.time.LocalDate.now())").startswith(
        "groovy.lang.MissingMethodException: No signature of method: "
        "jenkins.security.apitoken.ApiTokenStore.generateNewToken() is applicable for argument types: "
        "(java.lang.String, java.time.LocalDate)")
    # A Groovy nested class hands a missing property to its outer class, whose name the
    # message then shows; Jenkins' Java class would show TokenInfoAndStats.
    assert script(fake, PROP + "p.tokenList[0].expirationDate").startswith(
        "groovy.lang.MissingPropertyException: No such property: expirationDate for class: "
        "jenkins.security.ApiTokenProperty")
    assert [t["expiration_date"] for t in fake.tokens("ci-bot")] == [None]


def test_from_2_548_tokens_expire(fake_jenkins):
    fake_jenkins.today = dt.date(2026, 2, 18)
    made = script(fake_jenkins, PROP + "def t = p.generateNewToken('e', java.time.LocalDate.now().plusDays(3))\n"
                                       "println([t.expirationDate, t.aboutToExpire].join('|'))")
    assert made == "Sat, 2 21 2026|true\n"             # DateTimeFormatter "E, L d u"
    assert fake_jenkins.tokens("ci-bot")[0]["expiration_date"] == dt.date(2026, 2, 21)
    row = script(fake_jenkins, PROP + "def t = p.tokenList[0]\n"
                                      "println([t.expirationDate, t.expired, t.aboutToExpire].join('|'))")
    assert row == "2/21/26|false|true\n"
    fake_jenkins.today = dt.date(2026, 3, 1)
    assert script(fake_jenkins, PROP + "println p.tokenList[0].expired") == "true\n"
    never = script(fake_jenkins, PROP + "println p.tokenStore.generateNewToken('n').getClass().name")
    assert never == "jenkins.security.apitoken.TokenUuidAndPlainValue\n"
    assert script(fake_jenkins, PROP + "println p.generateNewToken('n2').expirationDate") == "Never\n"
