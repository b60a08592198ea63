"""Parsing of token lists: both HTML markups (docs/jenkins-behaviour.md §10) and the
script result."""

from datetime import date, datetime, timezone

import pytest

from jenkins_broker.jenkins.client import JenkinsClient
from jenkins_broker.jenkins.listing import parse_token_page, token_page_paths, tokens_from_script

# Shaped like core's ApiTokenProperty/config.jelly since 2.505 renders it, hidden
# templates included (their token-card has an empty id).
NEW_MARKUP = """
<div id="api-token-add-template" class="jenkins-hidden"><div>
  <input name="tokenName" class="jenkins-input"><select name="expirationDuration"></select>
</div></div>
<div class="jenkins-hidden" id="api-token-row-template">
  <div class="token-card" id="">
    <div class="token-card-inner"><div class="token-card__title"><span class="token-name"></span></div>
    <div class="token-stats"><span class="api-token-new-expiration token-creation" data-never="x"/>
    <span class="token-last-used">Never used</span></div></div>
  </div>
</div>
<div class="token-list ignore-dirty-panel">
  <div id="api-tokens"><div id="api-token-list">
    <div class="token-card " id="6a1c8f0e-1111-4c2d-9e3f-0123456789ab">
      <div class="token-card-inner">
        <div class="token-card__title " tooltip="">
          <span class="token-name">jenkins-broker-abc &amp; co</span>
        </div>
        <div class="token-stats">
          <span class=" token-creation" tooltip="Created on Jan 5, 2026, 10:15:30 AM">
            Expires on Jan 7, 2026</span>
          <span class="token-last-used"><span tooltip="x">Used 3 times, last 1 day ago</span></span>
        </div>
      </div>
      <div class="token-controls"><button data-token-uuid="6a1c8f0e-1111-4c2d-9e3f-0123456789ab">
        <svg><path d="M0"/></svg></button></div>
    </div>
    <div class="token-card legacy-token" id="0b2d9f1e-2222-4c2d-9e3f-0123456789ab">
      <div class="token-card-inner">
        <div class="token-card__title legacy-token" tooltip="Legacy token">
          <svg class="icon"><path d="M1"/></svg><span class="token-name">Legacy Token</span>
        </div>
        <div class="token-stats">
          <span class="warning token-creation" tooltip="Created on N/A">This token does not expire</span>
          <span class="token-last-used">Never used</span>
        </div>
      </div>
    </div>
  </div></div>
</div>
"""

# Shaped like config.jelly from 2.129 to 2.504 (f:repeatable rows, plus its template).
OLD_MARKUP = """
<div class="token-list ignore-dirty-panel">
  <div class="token-list-item token-list-empty-item hidden-message"><div>No tokens</div></div>
  <div class="repeated-chunk">
    <div class="token-list-item token-list-existing-item force-dirty-panel ">
      <input type="hidden" class="token-uuid-input" name="tokenUuid" value="9d3c1a2b-3333-4c2d-9e3f-0123456789ab">
      <input name="tokenName" type="text" class="setting-input token-name" value="jenkins-broker-old">
      <span class="token-creation age-ok" title="Jan 5, 2021 10:15:30 AM">Created 2 day(s) ago</span>
      <span class="to-right"><span class="token-use-counter" title="x">Used 0 time(s)</span>
      <a href="#" class="token-revoke" data-target-url="/user/ci-bot/descriptorByName/x/revoke">
      <img src="trash.png"></a></span>
    </div>
  </div>
  <div class="repeated-chunk">
    <div class="token-list-item token-list-existing-item force-dirty-panel legacy-token">
      <input type="hidden" class="token-uuid-input" name="tokenUuid" value="8e4d2b3c-4444-4c2d-9e3f-0123456789ab">
      <input name="_.tokenName" type="text" class="setting-input token-name" value="Legacy Token">
      <span class="token-creation age-ok" title="No creation date">N/A</span>
    </div>
  </div>
  <div class="repeatable-insertion-point"></div>
  <div class="prototypeContainer"><div class="repeated-chunk">
    <div class="token-list-item token-list-new-item">
      <input type="hidden" class="token-uuid-input" name="tokenUuid" value="">
      <input name="tokenName" type="text" class="token-name" placeholder="Default name">
    </div>
  </div></div>
</div>
"""


def test_new_markup():
    tokens = parse_token_page(NEW_MARKUP)
    assert [t.uuid for t in tokens] == ["6a1c8f0e-1111-4c2d-9e3f-0123456789ab",
                                        "0b2d9f1e-2222-4c2d-9e3f-0123456789ab"]
    first, legacy = tokens
    assert first.name == "jenkins-broker-abc & co" and not first.legacy
    assert first.expiry_text == "Expires on Jan 7, 2026"
    assert first.created_text == "Created on Jan 5, 2026, 10:15:30 AM"
    assert first.last_used_text == "Used 3 times, last 1 day ago"
    assert legacy.legacy and legacy.name == "Legacy Token"


def test_old_markup():
    tokens = parse_token_page(OLD_MARKUP)
    assert [(t.uuid, t.name, t.legacy) for t in tokens] == [
        ("9d3c1a2b-3333-4c2d-9e3f-0123456789ab", "jenkins-broker-old", False),
        ("8e4d2b3c-4444-4c2d-9e3f-0123456789ab", "Legacy Token", True),
    ]
    assert tokens[0].created_text == "Jan 5, 2021 10:15:30 AM"
    assert tokens[0].last_used_text == "Used 0 time(s)"


def test_empty_lists_in_both_markups():
    assert parse_token_page('<div class="token-list"><div class="token-list-empty-item">'
                            'No token</div></div>') == []
    assert parse_token_page('<div id="api-tokens" class="jenkins-hidden">'
                            '<div id="api-token-list"></div></div>') == []


def test_a_page_without_a_token_list_is_refused():
    with pytest.raises(ValueError):
        parse_token_page("<html><form action='j_spring_security_check'>Sign in</form></html>")


def test_unclosed_elements_do_not_break_parsing():
    page = NEW_MARKUP.replace("</span>\n        </div>\n        <div class=\"token-stats\">",
                              "<p>unclosed\n        </div>\n        <div class=\"token-stats\">")
    assert len(parse_token_page(page)) == 2


def test_script_result():
    tokens = tokens_from_script({"tokens": [
        {"uuid": "u1", "name": "jenkins-broker-1", "legacy": False, "creationDate": 1767607200000,
         "useCounter": 3, "expirationDate": "2026-01-07"},
        {"uuid": "u2", "name": "Legacy Token", "legacy": True, "creationDate": None,
         "useCounter": None, "expirationDate": None},
        {"uuid": "u3", "name": "a", "expirationDate": "never"},
        {"uuid": "u4", "name": "b", "expirationDate": "2/25/26"},
        {"uuid": "u5", "name": "c", "expirationDate": "25.02.26"},
    ]})
    assert tokens[2].expiration_date is None and tokens[2].expiry_text == "never"
    assert tokens[3].expiration_date == date(2026, 2, 25)
    assert tokens[4].expiration_date is None and tokens[4].expiry_text == "25.02.26"
    assert tokens[0].creation_date == datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    assert tokens[0].expiration_date == date(2026, 1, 7) and tokens[0].use_counter == 3
    assert tokens[1].legacy and tokens[1].creation_date is None and tokens[1].expiration_date is None


@pytest.mark.parametrize("bad", [{}, {"tokens": "x"}, {"tokens": [{"name": "no uuid"}]},
                                 {"tokens": [None]}])
def test_script_result_of_the_wrong_shape(bad):
    with pytest.raises(ValueError):
        tokens_from_script(bad)


def test_token_page_location_by_version():
    client = JenkinsClient("http://jenkins.example/ci/")
    try:
        assert token_page_paths(client, "a b", (2, 468)) == ["user/a%20b/security/"]
        assert token_page_paths(client, "ci-bot", (2, 467, 9)) == ["user/ci-bot/configure"]
        assert token_page_paths(client, "ci-bot", None) == ["user/ci-bot/security/",
                                                            "user/ci-bot/configure"]
    finally:
        client.close()
