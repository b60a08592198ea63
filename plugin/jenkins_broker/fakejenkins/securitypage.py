"""The token list in HTML: ``/user/{id}/security/`` (2.468+) and ``/user/{id}/configure``.

The page is the only listing route without the script console
(docs/jenkins-behaviour.md §10), so the markup is reproduced per era:

* 2.505+: ``div.token-card`` whose ``id`` is the uuid, with ``span.token-name``,
  ``span.token-creation`` (tooltip: creation date) and ``span.token-last-used``;
  legacy tokens carry the class ``legacy-token``. A hidden row template with an
  empty card sits on the page too, as in Jenkins.
* 2.129-2.504: ``.token-list-existing-item`` rows, each with a hidden
  ``input[name=tokenUuid]`` and a text field ``tokenName``.
* before 2.129: only the legacy token, in ``input#apiToken`` on the configure page.

The page is for the owner or an admin (``l:layout permission=ADMINISTER`` on the
user); anyone else gets the Access Denied page.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from werkzeug.wrappers import Response

from .exchange import Exchange
from .state import StoredToken, UserRecord, short_date
from .tokens import require_control


def _medium(when: dt.datetime) -> str:
    """Java's en-US MEDIUM date-time, e.g. ``Feb 18, 2026, 10:15:30 AM``."""
    hour = when.hour % 12 or 12
    return (f"{when.strftime('%b')} {when.day}, {when.year}, "
            f"{hour}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}")


def _days_ago(when: dt.datetime, today: dt.date, verb: str) -> str:
    days = (today - when.date()).days
    if days <= 0:
        return f"{verb} today"
    if days == 1:
        return f"{verb} yesterday"
    if days < 7:
        return f"{verb} {days} days ago"
    return f"{verb} over a week ago" if days < 15 else f"{verb} {days // 7} weeks ago"


def _base_url(ex: Exchange, record: UserRecord) -> str:
    return f"/user/{escape(record.id.lower())}/descriptorByName/jenkins.security.ApiTokenProperty"


def _last_used(ex: Exchange, token: StoredToken) -> str:
    if token.use_counter and token.last_use is not None:
        return (f'<span tooltip="{escape(_medium(token.last_use))}">'
                f"{_days_ago(token.last_use, ex.state.today(), 'Last used')}</span>"
                f'<span class="token-use-counter">{token.use_counter}</span>')
    return '<div class="token-never-used">Never used</div>'


def _card(ex: Exchange, record: UserRecord, token: StoredToken) -> str:
    state = ex.state
    legacy = " legacy-token" if token.legacy else ""
    created = (_medium(token.created) if token.created
               else "There is no creation date for that token")
    if state.features.expiry:
        if state.is_expired(token):
            status = ("error", "This token has expired")
        elif token.expires is None:
            status = ("warning", "This token does not expire")
        else:
            status = ("warning" if state.about_to_expire(token) else "",
                      f"Expires on {short_date(token.expires)}")
    else:
        status = ("", _days_ago(token.created, state.today(), "Created") if token.created else "")
    url = _base_url(ex, record)
    return (
        f'<div class="token-card jenkins-card{legacy}" id="{escape(token.uuid)}">\n'
        '<div class="token-card-inner">\n'
        f'<div class="token-card__title{legacy}"><span class="token-name">'
        f"{escape(token.name or '')}</span></div>\n"
        '<div class="token-stats">\n'
        f'<span class="{status[0]} token-creation" tooltip="Created on {escape(created)}">'
        f"{status[1]}</span>\n"
        f'<span class="token-last-used">{_last_used(ex, token)}</span>\n'
        "</div>\n</div>\n"
        '<div class="token-controls">'
        f'<button type="button" class="api-token-property-token-rename" '
        f'data-target-url="{url}/rename">Rename</button>'
        f'<button type="button" class="api-token-property-token-revoke" '
        f'data-token-uuid="{escape(token.uuid)}" data-target-url="{url}/revoke">Revoke</button>'
        "</div>\n</div>"
    )


def _row(ex: Exchange, record: UserRecord, token: StoredToken) -> str:
    legacy = " legacy-token" if token.legacy else ""
    created = (f"Created {(ex.state.today() - token.created.date()).days} day(s) ago"
               if token.created else "Unknown")
    return (
        f'<div class="token-list-item token-list-existing-item force-dirty-panel{legacy}">\n'
        f'<input type="hidden" class="token-uuid-input" name="tokenUuid" '
        f'value="{escape(token.uuid)}"/>\n'
        f'<input type="text" class="setting-input token-name" name="tokenName" '
        f'value="{escape(token.name or "")}"/>\n'
        f'<span class="token-creation">{created}</span>\n'
        f'<span class="to-right"><span class="token-use-counter">'
        f"Used {token.use_counter} time(s)</span>"
        f'<a href="#" class="api-token-property-token-revoke" '
        f'data-target-url="{_base_url(ex, record)}/revoke">Revoke</a></span>\n'
        "</div>"
    )


def _legacy_field(ex: Exchange, record: UserRecord) -> str:
    """The "Legacy API Token" read-only field (value masked unless the caller may see it)."""
    state = ex.state
    if state.features.new_tokens and record.legacy_secret is None \
            and not state.creation_of_legacy_token_enabled:
        return ""
    may_see = ((state.show_token_to_admins and ex.auth.admin)
               or state.same_user(ex.auth.name, record.id))
    value = state.legacy_value(record)
    if value is None:
        value = "This user currently does not have a legacy token"
    elif not may_see:
        value = "Token is hidden"
    return (
        '<div class="advancedBody"><label>Legacy API Token</label>\n'
        f'<input id="apiToken" name="_.apiToken" readonly="readonly" class="setting-input" '
        f'value="{escape(value)}"/>\n'
        '<button type="button" class="validate-button" data-validate-button-method='
        f'"changeToken">Change API Token</button></div>'
    )


def token_section(ex: Exchange, record: UserRecord) -> str:
    """The API Token section in the markup of the emulated version."""
    features = ex.state.features
    if not features.new_tokens:
        return ('<section class="jenkins-section"><h2>API Token</h2>\n'
                "<label>User ID</label>"
                f'<input readonly="readonly" value="{escape(record.id)}"/>\n'
                f"{_legacy_field(ex, record)}</section>")
    listed = ex.state.sorted_tokens(record)
    if features.new_markup:
        template = ('<div class="jenkins-hidden" id="api-token-row-template">'
                    '<div class="token-card"><div class="token-card-inner">'
                    '<span class="token-name"></span></div></div></div>')
        items = "\n".join(_card(ex, record, t) for t in listed)
        body = (f"{template}\n"
                f'<div class="token-list ignore-dirty-panel">\n'
                f'<div class="token-list-empty-item{"" if not listed else " jenkins-hidden"}">'
                "No API tokens configured</div>\n"
                f'<div id="api-tokens" class="{"" if listed else "jenkins-hidden"}">'
                '<div id="api-token-list">\n'
                f"{items}\n</div></div>\n</div>")
    else:
        items = "\n".join(_row(ex, record, t) for t in listed)
        body = ('<div class="token-list ignore-dirty-panel">\n'
                f'<div class="token-list-item token-list-empty-item'
                f'{" hidden-message" if listed else ""}">'
                '<div class="list-empty-message">There are no registered tokens for this user.'
                "</div></div>\n"
                f"{items}\n</div>")
    return (f'<section class="jenkins-section"><h2>API Token</h2>\n'
            f'<div class="setting-name">Current token(s)</div>\n{body}\n'
            f"{_legacy_field(ex, record)}</section>")


def _form(ex: Exchange, record: UserRecord, title: str, inner: str) -> Response:
    body = (f"<h1>{escape(title)}</h1>\n"
            f'<form method="post" action="configSubmit" name="config">\n{inner}\n'
            '<button type="submit" name="Submit" class="jenkins-button">Save</button>\n</form>')
    return ex.page(200, title, body)


def security(ex: Exchange, record: UserRecord) -> Response:
    """GET /user/{id}/security/ (2.468+): the Security category page with the tokens."""
    require_control(ex, record)
    return _form(ex, record, "Security", token_section(ex, record))


def configure(ex: Exchange, record: UserRecord) -> Response:
    """GET /user/{id}/configure: holds the tokens only before 2.468."""
    require_control(ex, record)
    inner = (f'<label>Full Name</label><input name="_.fullName" class="setting-input" '
             f'value="{escape(record.full_name)}"/>')
    if not ex.state.features.security_page:
        inner += "\n" + token_section(ex, record)
    return _form(ex, record, f"Configure {record.full_name}", inner)
