"""X-Vault-Wrap-TTL read as Vault reads it (the end-to-end cases are in
tests/integration/test_vault_front.py)."""

import pytest

from jenkins_broker.errors import InvalidRequest
from jenkins_broker.web.wrapping import parse_wrap_ttl


@pytest.mark.parametrize("raw, seconds", [
    (None, None), ("", None), ("  ", None), ("0", None), ("0s", None),  # no wrapping, as in Vault
    ("90", 90), ("90s", 90), ("1.5m", 90), ("1h", 3600), ("1h30m", 5400), (" 60s ", 60),
])
def test_values_vault_accepts(raw, seconds):
    assert parse_wrap_ttl(raw) == seconds


@pytest.mark.parametrize("raw, said", [
    ("-5", "requested wrap ttl cannot be negative"),
    ("-1m", "requested wrap ttl cannot be negative"),
    ("soon", "'soon' is not a duration"),
    ("5 m", "'5 m' is not a duration"),
])
def test_values_vault_refuses_are_a_400_in_vaults_words(raw, said):
    with pytest.raises(InvalidRequest) as caught:
        parse_wrap_ttl(raw)
    assert str(caught.value).startswith("error parsing X-Vault-Wrap-TTL header: ")
    assert said in str(caught.value)
