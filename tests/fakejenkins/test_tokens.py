"""The token endpoints in detail (docs/jenkins-behaviour.md §4.1-4.7, §7, §8, §11)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import pytest
import requests

from jenkins_broker.fakejenkins import FakeUser
from tests.fixtures.jenkins import crumb_session, mint, token_url

TODAY = dt.date(2026, 2, 18)


@pytest.fixture
def fake(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.555.1")
    fake.today = TODAY
    return fake


def bot(fake) -> str:
    return fake.add_token("ci-bot", name="bootstrap")[1]


# -- generateNewToken with expiry (2.548+) ---------------------------------------------------

@pytest.mark.parametrize("params, expires, shown, about", [
    ({}, None, "never", False),
    ({"expirationDuration": "never"}, None, "never", False),
    ({"expirationDuration": " "}, None, "never", False),
    ({"expirationDuration": "7"}, dt.date(2026, 2, 25), "2/25/26", False),
    ({"expirationDuration": " 6 "}, dt.date(2026, 2, 24), "2/24/26", True),
    ({"expirationDuration": "0"}, TODAY, "2/18/26", True),
    ({"expirationDuration": "+30"}, dt.date(2026, 3, 20), "3/20/26", False),
    ({"expirationDuration": "custom", "tokenExpiration": "2027-01-05"},
     dt.date(2027, 1, 5), "1/5/27", False),
    ({"expirationDuration": "3650"}, dt.date(2036, 2, 16), "2/16/36", False),   # no maximum
])
def test_generate_expiry(fake, params, expires, shown, about):
    data = mint(fake, "ci-bot", bot(fake), newTokenName="e", **params)
    assert data["expirationDate"] == shown
    assert data["aboutToExpire"] is about
    stored = [t for t in fake.tokens("ci-bot") if t["uuid"] == data["tokenUuid"]][0]
    assert stored["expiration_date"] == expires


@pytest.mark.parametrize("params", [{"expirationDuration": "-1"},
                                    {"expirationDuration": "custom",
                                     "tokenExpiration": "2026-02-17"}])
def test_generate_expiry_in_the_past_is_an_error_envelope(fake, params):
    token = bot(fake)
    r = requests.post(token_url(fake, "ci-bot", "generateNewToken"), auth=("ci-bot", token),
                      data=params)
    assert r.status_code == 200
    assert r.json() == {"status": "error", "message": "Expiration date is in the past."}
    assert len(fake.tokens("ci-bot")) == 1


@pytest.mark.parametrize("params", [
    {"expirationDuration": "soon"}, {"expirationDuration": "1.5"},
    {"expirationDuration": "99999999999"}, {"expirationDuration": "Never"},
    {"expirationDuration": "custom"}, {"expirationDuration": "custom", "tokenExpiration": "5/1/27"},
    {"expirationDuration": "custom", "tokenExpiration": "2027-02-30"},
])
def test_generate_malformed_expiry_is_the_oops_page(fake, params):
    r = requests.post(token_url(fake, "ci-bot", "generateNewToken"), auth=("ci-bot", bot(fake)),
                      data=params)
    assert r.status_code == 500
    assert "Oops!" in r.text and "A problem occurred while processing the request" in r.text
    assert len(fake.tokens("ci-bot")) == 1


def test_parameters_in_the_query_string_and_json_bodies_ignored(fake):
    token = bot(fake)
    url = token_url(fake, "ci-bot", "generateNewToken")
    r = requests.post(url + "?newTokenName=from-query", auth=("ci-bot", token))
    assert r.json()["data"]["tokenName"] == "from-query"
    r = requests.post(url, auth=("ci-bot", token), json={"newTokenName": "from-json"})
    assert r.json()["data"]["tokenName"].startswith("Token created on ")


def test_names_are_kept_verbatim(fake):
    data = mint(fake, "ci-bot", bot(fake), newTokenName="  spaced ünï  ")
    assert data["tokenName"] == "  spaced ünï  "


# -- storage (§7) and statistics (§8) ---------------------------------------------------------

def test_only_the_sha256_of_the_secret_is_stored(fake):
    data = mint(fake, "ci-bot", bot(fake), newTokenName="h")
    value = data["tokenValue"]
    hashes = fake.token_hashes("ci-bot")
    assert hashes[data["tokenUuid"]] == hashlib.sha256(value[2:].encode()).hexdigest()
    everything = repr(vars(fake.state)) + repr(fake.state.users)
    assert value[2:] not in everything
    assert value not in everything


def test_usage_counter_counts_token_requests_only(fake):
    token = bot(fake)
    for _ in range(3):
        requests.get(fake.url + "whoAmI/api/json", auth=("ci-bot", token))
    requests.get(fake.url + "whoAmI/api/json", auth=("ci-bot", "botpw"))
    [stored] = fake.tokens("ci-bot")
    assert stored["use_counter"] == 3
    assert stored["last_use_date"] is not None


def test_token_values_never_reach_the_log(fake, caplog):
    caplog.set_level(logging.DEBUG)
    token = bot(fake)
    data = mint(fake, "ci-bot", token, newTokenName="l")
    requests.post(token_url(fake, "ci-bot", "addFixedToken") + "?newTokenPlainValue=11" + "a" * 32,
                  auth=("ci-bot", token))
    requests.get(fake.url + "whoAmI/api/json", auth=("ci-bot", data["tokenValue"] + "x"))
    # The client's own urllib3 logs the query string; only the fake's loggers count here.
    text = "\n".join(r.getMessage() for r in caplog.records
                     if r.name.startswith(("jenkins_broker", "werkzeug")))
    assert data["tokenValue"][2:] not in text
    assert token[2:] not in text
    assert "a" * 32 not in text


# -- addFixedToken (§4.6), revokeAll (§4.3) -----------------------------------------------------

def test_add_fixed_token(fake):
    token = bot(fake)
    value = "11" + "ABCDEF0123456789" * 2
    r = requests.post(token_url(fake, "ci-bot", "addFixedToken"), auth=("ci-bot", token),
                      data={"newTokenName": "fixed", "newTokenPlainValue": value})
    data = r.json()["data"]
    assert set(data) == {"tokenUuid", "tokenName"} and data["tokenName"] == "fixed"
    whoami = fake.url + "whoAmI/api/json"
    assert requests.get(whoami, auth=("ci-bot", value.lower())).status_code == 200
    assert requests.get(whoami, auth=("ci-bot", value)).status_code == 401   # hex lower-cased


@pytest.mark.parametrize("value", [None, "", "11" + "g" * 32, "12" + "a" * 32, "11" + "a" * 31])
def test_add_fixed_token_bad_value_is_500(fake, value):
    data = {} if value is None else {"newTokenPlainValue": value}
    r = requests.post(token_url(fake, "ci-bot", "addFixedToken"), auth=("ci-bot", bot(fake)),
                      data=data)
    assert r.status_code == 500 and "Oops!" in r.text


def test_add_fixed_token_for_another_user_is_403_empty(fake):
    r = requests.post(token_url(fake, "ci-bot", "addFixedToken"),
                      auth=("other", fake.add_token("other")[1]),
                      data={"newTokenPlainValue": "11" + "a" * 32})
    assert r.status_code == 403 and r.content == b""


def test_revoke_all_keeps_the_legacy_secret_until_restart(make_fake_jenkins):
    fake = make_fake_jenkins(users=["ci-bot:botpw"], creation_of_legacy_token_enabled=True)
    session = crumb_session(fake, "ci-bot", "botpw")
    change = session.post(token_url(fake, "ci-bot", "changeToken"))
    legacy = json.loads(change.headers["X-Jenkins-ValidateButton-Callback"])["arguments"][0]
    fake.add_token("ci-bot", name="new")
    assert session.post(token_url(fake, "ci-bot", "revokeAll")).status_code == 200
    whoami = fake.url + "whoAmI/api/json"
    assert fake.tokens("ci-bot") == []
    assert requests.get(whoami, auth=("ci-bot", legacy)).status_code == 401
    fake.restart()
    # regenerateTokenFromLegacyIfRequired: the kept secret comes back on load (§4.3).
    assert requests.get(whoami, auth=("ci-bot", legacy)).status_code == 200
    assert [t["legacy"] for t in fake.tokens("ci-bot")] == [True]


def test_revoke_of_the_legacy_token_clears_its_secret(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.555.1", users=["ci-bot:botpw"])
    fake.add_user(FakeUser("old", "oldpw", legacy_token=True))
    legacy = fake.legacy_token("old")
    [entry] = fake.tokens("old")
    assert entry["legacy"] and entry["name"] == "Legacy Token" and entry["creation_date"] is None
    r = requests.post(token_url(fake, "old", "revoke"), auth=("old", legacy),
                      data={"tokenUuid": entry["uuid"]})
    assert r.status_code == 200
    fake.restart()
    assert fake.legacy_token("old") is None
    assert requests.get(fake.url + "whoAmI/api/json", auth=("old", legacy)).status_code == 401


# -- changeToken (§4.7) --------------------------------------------------------------------------

def test_change_token_disabled_without_legacy_token(fake):
    r = requests.post(token_url(fake, "ci-bot", "changeToken"), auth=("ci-bot", bot(fake)))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html;charset=UTF-8"
    assert "Capability to generate a legacy token without an existing one is currently " \
           "disabled" in r.text
    assert "X-Jenkins-ValidateButton-Callback" not in r.headers


@pytest.mark.parametrize("version", ["2.555.1", "2.528.3"])
def test_change_token_header_by_version(make_fake_jenkins, version):
    fake = make_fake_jenkins(version=version, creation_of_legacy_token_enabled=True)
    admin = fake.add_token("admin", name="a")[1]
    own = requests.post(token_url(fake, "ci-bot", "changeToken"),
                        auth=("ci-bot", fake.add_token("ci-bot")[1]))
    assert own.text == "<div>Updated. See the new token in the field above</div>"
    by_admin = requests.post(token_url(fake, "ci-bot", "changeToken"), auth=("admin", admin))
    assert by_admin.text == "<div>Updated. You need to login as the user to see the token</div>"
    current = fake.legacy_token("ci-bot")
    if version == "2.555.1":
        callback = json.loads(by_admin.headers["X-Jenkins-ValidateButton-Callback"])
        assert callback == {"callback": "changeTokenCallback", "arguments": [current]}
        assert "script" not in by_admin.headers
    else:
        assert "X-Jenkins-ValidateButton-Callback" not in by_admin.headers
        assert by_admin.headers["script"] == \
            "document.getElementById('apiToken').value='Token is hidden'"
        first = own.headers["script"].split("'")[3]
        assert len(first) == 32 and first != current     # rotated again by the admin
    assert len(current) == 32
    assert requests.get(fake.url + "whoAmI/api/json", auth=("ci-bot", current)).status_code == 200


def test_change_token_by_another_user_is_denied(make_fake_jenkins):
    fake = make_fake_jenkins(creation_of_legacy_token_enabled=True)
    r = requests.post(token_url(fake, "ci-bot", "changeToken"),
                      auth=("other", fake.add_token("other")[1]))
    assert r.status_code == 403
    assert r.headers["X-Required-Permission"] == "hudson.model.Hudson.Administer"


# -- before 2.129: the legacy token only ---------------------------------------------------------

def test_legacy_only_version(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.107.3")
    legacy = fake.legacy_token("ci-bot")
    assert len(legacy) == 32
    whoami = fake.url + "whoAmI/api/json"
    assert requests.get(whoami, auth=("ci-bot", legacy)).json()["name"] == "ci-bot"
    assert requests.get(whoami, auth=("ci-bot", "11" + legacy)).status_code == 401  # exact match
    for method in ("generateNewToken", "revoke", "rename", "revokeAll", "addFixedToken"):
        r = requests.post(token_url(fake, "ci-bot", method), auth=("ci-bot", legacy))
        assert r.status_code == 404, method
    r = requests.post(token_url(fake, "ci-bot", "changeToken"), auth=("ci-bot", legacy))
    assert r.status_code == 200
    new = r.headers["script"].split("'")[3]
    assert new == fake.legacy_token("ci-bot") != legacy
    assert requests.get(whoami, auth=("ci-bot", legacy)).status_code == 401
    assert requests.get(whoami, auth=("ci-bot", new)).status_code == 200
    with pytest.raises(ValueError):
        fake.add_token("ci-bot")


def test_revoke_all_endpoints_arrive_in_2_260(make_fake_jenkins):
    for version, status in (("2.259", 404), ("2.260", 200)):
        fake = make_fake_jenkins(version=version)
        r = requests.post(token_url(fake, "ci-bot", "revokeAll"),
                          auth=("ci-bot", fake.add_token("ci-bot")[1]))
        assert r.status_code == status, version


# -- /administrativeMonitor/legacyApiToken/revokeAllSelected (§4.11) -------------------------------

def test_revoke_all_selected(make_fake_jenkins):
    fake = make_fake_jenkins(users=[FakeUser("admin", "adminpw", admin=True),
                                    FakeUser("old", "pw", legacy_token=True), "ci-bot:botpw"])
    url = fake.url + "administrativeMonitor/legacyApiToken/revokeAllSelected"
    legacy_uuid = fake.tokens("old")[0]["uuid"]
    legacy = fake.legacy_token("old")
    admin = crumb_session(fake, "admin", "adminpw")
    body = {"values": [{"userId": "old", "uuid": legacy_uuid}, {"userId": "ghost", "uuid": "x"},
                       {"userId": None, "uuid": "y"}]}
    r = admin.post(url, json=body)
    assert r.status_code == 200 and r.content == b""
    assert fake.tokens("old") == [] and fake.legacy_token("old") is None
    assert requests.get(fake.url + "whoAmI/api/json", auth=("old", legacy)).status_code == 401
    assert admin.get(url).status_code == 405
    assert admin.post(url, data="not json",
                      headers={"Content-Type": "application/json"}).status_code == 500
    denied = crumb_session(fake, "ci-bot", "botpw").post(url, json=body)
    assert denied.status_code == 403
    assert denied.headers["X-Required-Permission"] == "hudson.model.Hudson.Administer"
