"""docs/jenkins-behaviour.md §15, the checklist for a faithful double: one test group per point."""

from __future__ import annotations

import re

import pytest
import requests

from tests.fixtures.jenkins import crumb_session, mint, token_url

TOKEN_ENDPOINTS = ["generateNewToken", "revoke", "revokeAll", "revokeAllExcept", "rename",
                   "addFixedToken", "changeToken"]


def bot_token(fake) -> str:
    return fake.add_token("ci-bot", name="bootstrap")[1]


# -- 15.1 processing order ------------------------------------------------------------------

def test_15_1_processing_order_bad_basic_fails_first(fake_jenkins):
    # A POST without crumb to a URL that does not exist: the credential is judged first.
    r = requests.post(fake_jenkins.url + "no/such/url", auth=("ci-bot", "wrong"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Jenkins"'


def test_15_1_processing_order_csrf_before_url_and_permission(fake_jenkins):
    for url in (fake_jenkins.url + "no/such/url",
                token_url(fake_jenkins, "admin", "revoke"),      # ci-bot may not anyway
                token_url(fake_jenkins, "nobody", "revoke")):
        r = requests.post(url, auth=("ci-bot", "botpw"), data={"tokenUuid": "x"})
        assert r.status_code == 403, url
        assert "No valid crumb was included in the request" in r.text
    anonymous = requests.post(fake_jenkins.url + "scriptText", data={"script": "1"})
    assert anonymous.status_code == 403
    assert "No valid crumb" in anonymous.text


def test_15_1_processing_order_read_before_user_lookup(fake_jenkins):
    r = requests.get(fake_jenkins.url + "user/nobody/api/json")
    assert r.status_code == 403
    assert "Authentication required" in r.text
    assert r.headers["X-Required-Permission"] == "hudson.model.Hudson.Read"


def test_15_1_processing_order_user_lookup_before_method(fake_jenkins):
    r = requests.get(token_url(fake_jenkins, "nobody", "revoke"), auth=("ci-bot", "botpw"))
    assert r.status_code == 404
    assert "Allow" not in r.headers


def test_15_1_processing_order_method_before_permission(fake_jenkins):
    r = requests.get(token_url(fake_jenkins, "ci-bot", "revoke"), auth=("other", "otherpw"))
    assert r.status_code == 405


def test_15_1_processing_order_permission_before_logic(fake_jenkins):
    token = fake_jenkins.add_token("other", name="o")[1]
    # A blank tokenUuid would be a 400, but the permission check comes first.
    r = requests.post(token_url(fake_jenkins, "ci-bot", "revoke"), auth=("other", token),
                      data={"tokenUuid": ""})
    assert r.status_code == 403
    assert r.headers["X-Required-Permission"] == "hudson.model.Hudson.Administer"


# -- 15.2 token authentication ----------------------------------------------------------------

def test_15_2_token_authentication_accepts_tokens_and_passwords(fake_jenkins):
    token = bot_token(fake_jenkins)
    for credential in (token, "botpw"):
        r = requests.get(fake_jenkins.url + "whoAmI/api/json", auth=("ci-bot", credential))
        assert r.status_code == 200
        assert r.json()["name"] == "ci-bot"
        assert r.json()["anonymous"] is False


def test_15_2_token_authentication_ignores_first_two_of_34_and_is_case_sensitive(fake_jenkins):
    token = bot_token(fake_jenkins)
    whoami = fake_jenkins.url + "whoAmI/api/json"
    assert requests.get(whoami, auth=("ci-bot", "zz" + token[2:])).status_code == 200
    assert requests.get(whoami, auth=("ci-bot", token[2:])).status_code == 200   # hashed whole
    assert requests.get(whoami, auth=("ci-bot", token.upper())).status_code == 401
    assert requests.get(whoami, auth=("ci-bot", token + "0")).status_code == 401
    assert requests.get(whoami, auth=("other", token)).status_code == 401


@pytest.mark.parametrize("header", ["Basic bm9jb2xvbg==",       # "nocolon"
                                    "Basic !!!not-base64!!!",
                                    "basic " + "Y2ktYm90Ondyb25n"])  # ci-bot:wrong
def test_15_2_token_authentication_failures_are_401_even_on_whoami(fake_jenkins, header):
    r = requests.get(fake_jenkins.url + "whoAmI/api/json", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Jenkins"'
    assert "X-Jenkins" not in r.headers


def test_15_2_token_authentication_rejects_expired_tokens(make_fake_jenkins):
    import datetime as dt

    fake = make_fake_jenkins(version="2.555.1")
    fake.today = dt.date(2030, 1, 10)
    _, value = fake.add_token("ci-bot", name="short", expiration_date=dt.date(2030, 1, 10))
    whoami = fake.url + "whoAmI/api/json"
    assert requests.get(whoami, auth=("ci-bot", value)).status_code == 200  # expires today
    fake.today = dt.date(2030, 1, 11)
    assert requests.get(whoami, auth=("ci-bot", value)).status_code == 401


# -- 15.3 CSRF ------------------------------------------------------------------------------

def test_15_3_csrf_token_posts_need_no_crumb_and_ignore_a_wrong_one(fake_jenkins):
    token = bot_token(fake_jenkins)
    r = requests.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"),
                      auth=("ci-bot", token), headers={"Jenkins-Crumb": "wrong"})
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert "Set-Cookie" not in r.headers


def test_15_3_csrf_crumb_issuer_sets_session_cookie_and_returns_json(fake_jenkins):
    r = requests.get(fake_jenkins.url + "crumbIssuer/api/json", auth=("ci-bot", "botpw"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert re.fullmatch(r"JSESSIONID\.[0-9a-f]{8}=[^;]+; Path=/; HttpOnly", r.headers["Set-Cookie"])
    body = r.json()
    assert list(body) == ["_class", "crumb", "crumbRequestField"]
    assert body["_class"] == "hudson.security.csrf.DefaultCrumbIssuer"
    assert body["crumbRequestField"] == "Jenkins-Crumb"
    assert re.fullmatch(r"[0-9a-f]{64}", body["crumb"])


def test_15_3_csrf_password_post_needs_basic_cookie_and_crumb(fake_jenkins):
    session = crumb_session(fake_jenkins, "ci-bot", "botpw")
    url = token_url(fake_jenkins, "ci-bot", "generateNewToken")
    assert session.post(url).status_code == 200
    crumb = session.headers["Jenkins-Crumb"]
    no_cookie = requests.post(url, auth=("ci-bot", "botpw"), headers={"Jenkins-Crumb": crumb})
    assert no_cookie.status_code == 403 and "No valid crumb" in no_cookie.text
    no_basic = requests.post(url, cookies=session.cookies, headers={"Jenkins-Crumb": crumb})
    assert no_basic.status_code == 403                   # anonymous: another authName
    no_crumb = requests.post(url, auth=("ci-bot", "botpw"), cookies=session.cookies)
    assert no_crumb.status_code == 403


def test_15_3_csrf_crumb_as_request_parameter(fake_jenkins):
    session = crumb_session(fake_jenkins, "ci-bot", "botpw")
    crumb = session.headers.pop("Jenkins-Crumb")
    url = token_url(fake_jenkins, "ci-bot", "generateNewToken")
    assert session.post(url, data={"Jenkins-Crumb": crumb}).status_code == 200
    assert session.post(url + "?Jenkins-Crumb=" + crumb).status_code == 200
    assert session.post(url, data={".crumb": crumb}).status_code == 403   # read, then ignored


def test_15_3_csrf_crumb_of_another_user_or_session_is_refused(fake_jenkins):
    bot = crumb_session(fake_jenkins, "ci-bot", "botpw")
    other = crumb_session(fake_jenkins, "other", "otherpw")
    url = token_url(fake_jenkins, "ci-bot", "generateNewToken")
    # ci-bot's cookie and credentials with other's crumb
    r = requests.post(url, auth=("ci-bot", "botpw"), cookies=bot.cookies,
                      headers={"Jenkins-Crumb": other.headers["Jenkins-Crumb"]})
    assert r.status_code == 403
    # ci-bot's crumb in a second session of ci-bot
    second = crumb_session(fake_jenkins, "ci-bot", "botpw")
    r = requests.post(url, auth=("ci-bot", "botpw"), cookies=second.cookies,
                      headers={"Jenkins-Crumb": bot.headers["Jenkins-Crumb"]})
    assert r.status_code == 403


def test_15_3_csrf_any_crumb_fails_after_restart(fake_jenkins):
    session = crumb_session(fake_jenkins, "ci-bot", "botpw")
    fake_jenkins.restart()
    r = session.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"))
    assert r.status_code == 403
    assert "No valid crumb was included in the request" in r.text


# -- 15.4 generateNewToken ------------------------------------------------------------------

def test_15_4_generate_new_token_envelope(fake_jenkins):
    r = requests.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"),
                      auth=("ci-bot", bot_token(fake_jenkins)), data={"newTokenName": "ci"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = r.json()
    assert body["status"] == "ok"
    data = body["data"]
    assert set(data) == {"tokenUuid", "tokenName", "tokenValue", "expirationDate", "aboutToExpire"}
    assert data["tokenName"] == "ci"
    assert re.fullmatch(r"11[0-9a-f]{32}", data["tokenValue"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        data["tokenUuid"])
    assert data["expirationDate"] == "never"
    assert data["aboutToExpire"] is False


def test_15_4_generate_new_token_blank_name_gets_a_timestamp(fake_jenkins):
    for name in (None, "   "):
        params = {} if name is None else {"newTokenName": name}
        data = mint(fake_jenkins, "ci-bot", bot_token(fake_jenkins), **params)
        assert re.fullmatch(r"Token created on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"
                            r"(Z|[+-]\d\d:\d\d)", data["tokenName"]), data["tokenName"]


def test_15_4_generate_new_token_for_another_user_is_403_empty(fake_jenkins):
    for caller, secret in (("other", "otherpw"), ("admin", "adminpw")):
        session = crumb_session(fake_jenkins, caller, secret)
        r = session.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"))
        assert r.status_code == 403
        assert r.content == b""
        assert "X-Required-Permission" not in r.headers


def test_15_4_generate_new_token_admin_with_system_property(make_fake_jenkins):
    fake = make_fake_jenkins(admin_can_generate_new_tokens=True)
    admin_token = fake.add_token("admin", name="a")[1]
    r = requests.post(token_url(fake, "ci-bot", "generateNewToken"), auth=("admin", admin_token))
    assert r.status_code == 200
    value = r.json()["data"]["tokenValue"]
    assert requests.get(fake.url + "whoAmI/api/json",
                        auth=("ci-bot", value)).json()["name"] == "ci-bot"
    other_token = fake.add_token("other", name="o")[1]
    r = requests.post(token_url(fake, "ci-bot", "generateNewToken"), auth=("other", other_token))
    assert r.status_code == 403


# -- 15.5 revoke ----------------------------------------------------------------------------

def test_15_5_revoke_by_owner_and_admin(fake_jenkins):
    admin_token = fake_jenkins.add_token("admin", name="a")[1]
    for caller, secret in (("ci-bot", bot_token(fake_jenkins)), ("admin", admin_token)):
        victim_uuid, victim = fake_jenkins.add_token("ci-bot", name="victim")
        r = requests.post(token_url(fake_jenkins, "ci-bot", "revoke"), auth=(caller, secret),
                          data={"tokenUuid": victim_uuid})
        assert r.status_code == 200 and r.content == b""
        assert requests.get(fake_jenkins.url + "whoAmI/api/json",
                            auth=("ci-bot", victim)).status_code == 401


def test_15_5_revoke_by_someone_else_is_access_denied(fake_jenkins):
    victim_uuid, _ = fake_jenkins.add_token("ci-bot", name="victim")
    other = fake_jenkins.add_token("other", name="o")[1]
    r = requests.post(token_url(fake_jenkins, "ci-bot", "revoke"), auth=("other", other),
                      data={"tokenUuid": victim_uuid})
    assert r.status_code == 403
    assert r.headers["X-Required-Permission"] == "hudson.model.Hudson.Administer"
    assert r.headers["X-You-Are-Authenticated-As"] == "other"
    assert "other is missing the Overall/Administer permission" in r.text
    assert victim_uuid in [t["uuid"] for t in fake_jenkins.tokens("ci-bot")]


def test_15_5_revoke_unknown_uuid_is_200_and_blank_is_400(fake_jenkins):
    token = bot_token(fake_jenkins)
    url = token_url(fake_jenkins, "ci-bot", "revoke")
    unknown = requests.post(url, auth=("ci-bot", token), data={"tokenUuid": "no-such-uuid"})
    assert unknown.status_code == 200 and unknown.content == b""
    blank = requests.post(url, auth=("ci-bot", token), data={"tokenUuid": " "})
    assert blank.status_code == 400
    assert "The tokenUuid cannot be empty" in blank.text
    assert len(fake_jenkins.tokens("ci-bot")) == 1


# -- 15.6 revokeAllExcept and rename ------------------------------------------------------------

def test_15_6_revoke_all_except_unknown_uuid_removes_everything(fake_jenkins):
    token = bot_token(fake_jenkins)
    fake_jenkins.add_token("ci-bot", name="second")
    r = requests.post(token_url(fake_jenkins, "ci-bot", "revokeAllExcept"),
                      auth=("ci-bot", token), data={"tokenUuid": "unknown"})
    assert r.status_code == 200
    assert fake_jenkins.tokens("ci-bot") == []


def test_15_6_revoke_all_except_keeps_the_named_one(fake_jenkins):
    keep_uuid, keep = fake_jenkins.add_token("ci-bot", name="keep")
    fake_jenkins.add_token("ci-bot", name="drop")
    r = requests.post(token_url(fake_jenkins, "ci-bot", "revokeAllExcept"),
                      auth=("ci-bot", keep), data={"tokenUuid": keep_uuid})
    assert r.status_code == 200
    assert [t["uuid"] for t in fake_jenkins.tokens("ci-bot")] == [keep_uuid]


@pytest.mark.parametrize("params, message", [
    ({"tokenUuid": "x", "newName": ""}, "The name cannot be empty"),
    ({"tokenUuid": "", "newName": "n"}, "The tokenUuid cannot be empty"),
    ({"tokenUuid": "unknown", "newName": "n"}, "No token found, try refreshing the page"),
])
def test_15_6_rename_errors_are_http_200(fake_jenkins, params, message):
    r = requests.post(token_url(fake_jenkins, "ci-bot", "rename"),
                      auth=("ci-bot", bot_token(fake_jenkins)), data=params)
    assert r.status_code == 200
    assert r.json() == {"status": "error", "message": message}


def test_15_6_rename_success(fake_jenkins):
    token_uuid, token = fake_jenkins.add_token("ci-bot", name="before")
    r = requests.post(token_url(fake_jenkins, "ci-bot", "rename"), auth=("ci-bot", token),
                      data={"tokenUuid": token_uuid, "newName": "after"})
    assert r.json() == {"status": "ok"}
    assert fake_jenkins.tokens("ci-bot")[0]["name"] == "after"


# -- 15.7 wrong method, unknown user --------------------------------------------------------

@pytest.mark.parametrize("method", TOKEN_ENDPOINTS)
def test_15_7_wrong_method_is_405_with_allow_post(fake_jenkins, method):
    r = requests.get(token_url(fake_jenkins, "ci-bot", method) + "/", auth=("ci-bot", "botpw"))
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert "This URL requires POST" in r.text
    assert "Method Not Allowed" in r.text


def test_15_7_unknown_user_is_404(fake_jenkins):
    r = requests.post(token_url(fake_jenkins, "nobody", "revoke"),
                      auth=("ci-bot", bot_token(fake_jenkins)), data={"tokenUuid": "x"})
    assert r.status_code == 404
    assert "Not Found" in r.text


def test_15_7_endpoint_aliases_resolve(fake_jenkins):
    token = bot_token(fake_jenkins)
    for url in (fake_jenkins.url + "me/descriptorByName/jenkins.security.ApiTokenProperty/"
                "generateNewToken",
                fake_jenkins.url + "user/CI-BOT/descriptorByName/ApiTokenProperty/"
                "generateNewToken/"):
        r = requests.post(url, auth=("ci-bot", token))
        assert r.status_code == 200, url
    assert len(fake_jenkins.tokens("ci-bot")) == 3


# -- 15.8 no token data in JSON -------------------------------------------------------------

def test_15_8_user_json_lists_the_property_only_for_self_or_admin(fake_jenkins):
    url = fake_jenkins.url + "user/ci-bot/api/json"
    expected = [{"_class": "jenkins.security.ApiTokenProperty"}]
    assert requests.get(url, auth=("ci-bot", "botpw")).json()["property"] == expected
    assert requests.get(url, auth=("admin", "adminpw")).json()["property"] == expected
    assert requests.get(url, auth=("other", "otherpw")).json()["property"] == []
    me = requests.get(fake_jenkins.url + "me/api/json", auth=("ci-bot", "botpw")).json()
    assert me["_class"] == "hudson.model.User" and me["id"] == "ci-bot"
    assert me["property"] == expected
    assert me["absoluteUrl"] == fake_jenkins.url + "user/ci-bot"


def test_15_8_whoami_for_anonymous_is_authenticated_and_anonymous(fake_jenkins):
    r = requests.get(fake_jenkins.url + "whoAmI/api/json")
    assert r.status_code == 200
    assert r.json() == {"_class": "hudson.security.WhoAmI", "anonymous": True,
                        "authenticated": True, "authorities": ["anonymous"],
                        "name": "anonymous"}


# -- 15.9 X-Jenkins placement -----------------------------------------------------------------

def test_15_9_x_jenkins_on_api_and_pages(fake_jenkins):
    auth = ("ci-bot", "botpw")
    for path in ("api/json", "whoAmI/api/json", "crumbIssuer/api/json", "user/ci-bot/api/xml"):
        r = requests.get(fake_jenkins.url + path, auth=auth)
        assert r.headers["X-Jenkins"] == "2.555.1", path
        assert r.headers["X-Jenkins-Session"] == fake_jenkins.session_hash
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "deny"
        assert "X-Hudson" not in r.headers
    for path in ("", "login", "user/ci-bot/security/"):
        r = requests.get(fake_jenkins.url + path, auth=auth)
        assert r.status_code == 200
        assert r.headers["X-Jenkins"] == "2.555.1", path
        assert r.headers["X-Hudson"] == "1.395"
        assert "X-Frame-Options" not in r.headers


def test_15_9_no_x_jenkins_on_token_json_401_crumb_403_or_script_output(fake_jenkins):
    token = bot_token(fake_jenkins)
    admin_token = fake_jenkins.add_token("admin", name="a")[1]
    responses = [
        requests.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"),
                      auth=("ci-bot", token)),
        requests.post(token_url(fake_jenkins, "ci-bot", "revoke"), auth=("ci-bot", token),
                      data={"tokenUuid": "x"}),
        requests.get(fake_jenkins.url + "api/json", auth=("ci-bot", "nope")),
        requests.post(fake_jenkins.url + "api/json", auth=("ci-bot", "botpw")),
        requests.post(fake_jenkins.url + "scriptText", auth=("admin", admin_token),
                      data={"script": "println 1"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 401, 403, 200]
    for r in responses:
        assert "X-Jenkins" not in r.headers, r.url


# -- 15.10 script console ----------------------------------------------------------------------

def test_15_10_script_text_needs_admin_and_post(fake_jenkins):
    admin_token = fake_jenkins.add_token("admin", name="a")[1]
    url = fake_jenkins.url + "scriptText"
    get_with_script = requests.get(url, params={"script": "1"}, auth=("admin", admin_token))
    assert get_with_script.status_code == 405
    assert "Allow" not in get_with_script.headers
    assert "Oops!" in get_with_script.text
    get_without = requests.get(url, auth=("admin", admin_token))
    assert get_without.status_code == 200 and get_without.text == ""
    denied = requests.post(url, data={"script": "1"}, auth=("ci-bot", bot_token(fake_jenkins)))
    assert denied.status_code == 403
    assert denied.headers["X-Required-Permission"] == "hudson.model.Hudson.Administer"


def test_15_10_script_text_failures_are_http_200(fake_jenkins):
    admin_token = fake_jenkins.add_token("admin", name="a")[1]
    r = requests.post(fake_jenkins.url + "scriptText", data={"script": "this is not groovy"},
                      auth=("admin", admin_token))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain;charset=UTF-8"
    # Real Groovy 2.4: the words parse as method calls, and the compiler refuses them.
    assert r.text.startswith("org.codehaus.groovy.control.MultipleCompilationErrorsException: "
                             "startup failed:\nScript1.groovy: 1: ")
    assert "\tat " in r.text


# -- 15.11 version switches ------------------------------------------------------------------------

def test_15_11_version_switches_rename_before_2_505(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.504")
    token_uuid, token = fake.add_token("ci-bot", name="t")
    url = token_url(fake, "ci-bot", "rename")
    ok = requests.post(url, auth=("ci-bot", token), data={"tokenUuid": token_uuid, "newName": "n"})
    assert ok.status_code == 200 and ok.content == b""
    blank = requests.post(url, auth=("ci-bot", token), data={"tokenUuid": "", "newName": "n"})
    assert blank.status_code == 400 and "The tokenUuid cannot be empty" in blank.text
    unknown = requests.post(url, auth=("ci-bot", token), data={"tokenUuid": "u", "newName": "n"})
    assert unknown.json() == {"status": "error",
                              "message": "No token found, try refreshing the page"}


def test_15_11_version_switches_generate_without_expiry_before_2_548(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.541.3")
    data = mint(fake, "ci-bot", fake.add_token("ci-bot", name="t")[1],
                newTokenName="n", expirationDuration="-5")      # ignored, like any unknown param
    assert set(data) == {"tokenUuid", "tokenName", "tokenValue"}
    assert fake.tokens("ci-bot")[-1]["expiration_date"] is None


def test_15_11_version_switches_crumb_bound_to_ip_before_2_543(make_fake_jenkins):
    for version, ip_bound in (("2.541.3", True), ("2.555.1", False)):
        fake = make_fake_jenkins(version=version)
        session = crumb_session(fake, "ci-bot", "botpw")
        r = session.post(token_url(fake, "ci-bot", "generateNewToken"),
                         headers={"X-Forwarded-For": "10.1.2.3"})
        assert (r.status_code == 403) is ip_bound, version
