"""Credential, MintedToken and the expiry-days arithmetic."""

import pytest

from jenkins_broker.jenkins import Credential, MintedToken, expiration_days

TOKEN = "11" + "0123456789abcdef" * 2
LEGACY = "0123456789abcdef" * 2


def test_credential_repr_and_str_hide_the_secret():
    cred = Credential("ci-bot", "hunter2-password")
    for text in (repr(cred), str(cred), repr([cred]), repr({"c": cred})):
        assert "hunter2" not in text
    assert "ci-bot" in repr(cred)


@pytest.mark.parametrize("secret, kind, is_token", [
    (TOKEN, "auto", True), (LEGACY, "auto", True), ("botpw", "auto", False),
    (LEGACY, "password", False), ("botpw", "token", True),
])
def test_credential_kind(secret, kind, is_token):
    assert Credential("u", secret, kind).is_token is is_token


def test_credential_legacy_shape():
    assert Credential("u", LEGACY).is_legacy_token
    assert not Credential("u", TOKEN).is_legacy_token
    assert not Credential.password("u", LEGACY).is_legacy_token


@pytest.mark.parametrize("args", [("", "x"), ("a:b", "x"), ("u", ""), ("u", "x", "weird")])
def test_credential_rejects_unusable_values(args):
    with pytest.raises(ValueError):
        Credential(*args)


def test_minted_token_repr_hides_the_value():
    minted = MintedToken(user="ci-bot", uuid="u-1", name="jenkins-broker-1", value=TOKEN)
    assert TOKEN not in repr(minted) and TOKEN not in str(minted)
    assert "jenkins-broker-1" in repr(minted)


@pytest.mark.parametrize("seconds, days", [
    (0, 2), (1, 2), (900, 2), (86399, 2), (86400, 2), (86401, 3), (7 * 86400, 8),
    (7 * 86400 + 0.5, 9), (30 * 86400, 31),
])
def test_expiration_days_rounds_up_with_one_day_of_slack(seconds, days):
    assert expiration_days(seconds) == days
    # never shorter than the lease, counted from the server's date
    assert (days - 1) * 86400 >= seconds


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), None, "900", True])
def test_expiration_days_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        expiration_days(bad)
