"""Listing a user's API tokens: Jenkins has no API for it (docs/jenkins-behaviour.md
§10).

Two routes:

* the script console (administrator): the ``list-tokens`` script of
  :mod:`.scripts`, parsed strictly;
* the user's token page (owner or administrator), scraped with the standard
  library's ``html.parser``: ``/user/{id}/security/`` since 2.468,
  ``/user/{id}/configure`` before. Two markups are understood:

  - 2.505+: ``div.token-card`` whose ``id`` is the uuid, with ``span.token-name``,
    ``span.token-creation`` (expiry text; creation date in its tooltip) and
    ``span.token-last-used``; legacy tokens carry the class ``legacy-token``;
  - 2.129–2.504: ``.token-list-existing-item`` rows with a hidden
    ``input[name=tokenUuid]`` and a text ``input[name=tokenName]``.

  Hidden templates the page carries for its JavaScript (a card with an empty id,
  the "new token" row) are skipped.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from typing import Any

from ..errors import JenkinsNotFound, JenkinsProtocolError, JenkinsScriptError, JenkinsUnsupported
from . import scripts
from .answers import safe_url, scrub
from .models import Credential, TokenInfo

SECURITY_PAGE_SINCE = (2, 468)
NEW_TOKENS_SINCE = (2, 129)

# Containers of templates that are not tokens (2.505+ markup).
_TEMPLATE_IDS = {"api-token-row-template", "api-token-template", "api-token-add-template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


class _TokenPageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.has_list = False
        self.tokens: list[TokenInfo] = []
        self._stack: list[tuple[str, str | None]] = []   # (tag, role)
        self._record: dict[str, Any] | None = None
        self._template_depth = 0

    # Roles: "template", "card" (2.505+), "row" (2.129-2.504), "name", "creation", "used".

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: (value or "") for key, value in attrs}
        classes = set(a.get("class", "").split())
        role = None
        if "token-list" in classes or a.get("id") == "api-token-list":
            self.has_list = True
        if a.get("id") in _TEMPLATE_IDS or "token-list-new-item" in classes:
            role = "template"
        elif self._template_depth or tag in _VOID:
            pass
        elif self._record is None and tag == "div" and "token-card" in classes:
            role = "card"
            self._start(new=True, uuid=a.get("id", ""), legacy="legacy-token" in classes)
        elif self._record is None and "token-list-existing-item" in classes:
            role = "row"
            self._start(new=False, uuid="", legacy="legacy-token" in classes)
        elif self._record is not None and tag == "span" and "token-name" in classes:
            role = "name"
        elif self._record is not None and "token-creation" in classes:
            role = "creation"
            self._record["created_title"] = a.get("tooltip") or a.get("title") or None
        elif self._record is not None and classes & {"token-last-used", "token-use-counter"}:
            role = "used"
        if tag == "input" and self._record is not None and not self._template_depth:
            name = a.get("name", "")
            if name == "tokenUuid":
                self._record["uuid"] = a.get("value", "")
            elif name in ("tokenName", "_.tokenName"):
                self._record["name"].append(a.get("value", ""))
        if tag in _VOID:
            return
        if role == "template":
            self._template_depth += 1
        self._stack.append((tag, role))

    def handle_endtag(self, tag: str) -> None:
        # Tolerate unclosed elements: pop up to the nearest matching open tag.
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth][0] == tag:
                break
        else:
            return
        while len(self._stack) > depth:
            _, role = self._stack.pop()
            if role == "template":
                self._template_depth -= 1
            elif role in ("card", "row"):
                self._finish()

    def handle_data(self, data: str) -> None:
        if self._record is None or self._template_depth:
            return
        for _, role in reversed(self._stack):
            if role in ("name", "creation", "used"):
                self._record[role].append(data)
                return
            if role in ("card", "row"):
                return

    def _start(self, *, new: bool, uuid: str, legacy: bool) -> None:
        self._record = {"new": new, "uuid": uuid, "legacy": legacy, "name": [], "creation": [],
                        "used": [], "created_title": None}

    def _finish(self) -> None:
        record, self._record = self._record, None
        if not record or not record["uuid"].strip():
            return  # a template or a row without identity: not a token
        text = {key: " ".join("".join(record[key]).split()) or None
                for key in ("name", "creation", "used")}
        if record["new"]:
            created, expiry = record["created_title"], text["creation"]
        else:
            created, expiry = record["created_title"] or text["creation"], None
        self.tokens.append(TokenInfo(
            uuid=record["uuid"].strip(), name=text["name"] or "", legacy=record["legacy"],
            created_text=created, expiry_text=expiry, last_used_text=text["used"]))


def parse_token_page(page: str) -> list[TokenInfo]:
    """The tokens shown on a user's token page (either markup).

    Raises ``ValueError`` when the page has no token list at all (a login page,
    a proxy's page, or a Jenkins without the new token system).
    """
    parser = _TokenPageParser()
    parser.feed(page or "")
    parser.close()
    if not parser.has_list and not parser.tokens:
        raise ValueError("the page has no API token list")
    return parser.tokens


def tokens_from_script(result: dict[str, Any]) -> list[TokenInfo]:
    """The tokens in the result object of the ``list-tokens`` script.

    Raises ``ValueError`` when the result is not the shape the script prints.
    """
    rows = result.get("tokens")
    if not isinstance(rows, list):
        raise ValueError("the list-tokens result has no 'tokens' list")
    tokens = []
    for row in rows:
        if not (isinstance(row, dict) and isinstance(row.get("uuid"), str) and row["uuid"]):
            raise ValueError("a list-tokens row has no uuid")
        created = row.get("creationDate")
        expires = row.get("expirationDate")
        counter = row.get("useCounter")
        tokens.append(TokenInfo(
            uuid=row["uuid"], name=str(row.get("name") or ""), legacy=row.get("legacy") is True,
            creation_date=(datetime.fromtimestamp(created / 1000, tz=timezone.utc)
                           if isinstance(created, (int, float)) and not isinstance(created, bool)
                           else None),
            expiration_date=_expiry_date(expires),
            expiry_text=expires if isinstance(expires, str) else None,
            use_counter=counter if isinstance(counter, int) and not isinstance(counter, bool)
            else None))
    return tokens


def _expiry_date(value: Any) -> date | None:
    """The date in a token list's ``expirationDate``; ``None`` for "never" or unreadable.

    ``TokenInfoAndStats.expirationDate`` is display text: ``never`` or the date
    in the request locale's SHORT style. The client asks for English, which is
    ``M/d/yy``; an ISO date is accepted too.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    short = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2})", text)
    try:
        if short:
            month, day, year = (int(part) for part in short.groups())
            return date(2000 + year, month, day)
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def token_page_paths(client, user: str, version: tuple[int, ...] | None) -> list[str]:
    """Where ``user``'s token list lives on this version (both, in order, if unknown)."""
    security = client.user_path(user, "security/")
    configure = client.user_path(user, "configure")
    if version is None:
        return [security, configure]
    return [security] if version >= SECURITY_PAGE_SINCE else [configure]


def list_tokens_by_page(client, credential: Credential, user: str) -> list[TokenInfo]:
    """``user``'s tokens from ``GET /user/{user}/security/`` (or ``/configure`` before 2.468).

    ``credential`` must be the user's own or an administrator's. Raises
    :class:`~jenkins_broker.errors.JenkinsUnsupported` before 2.129 (no token
    list), :class:`~jenkins_broker.errors.JenkinsProtocolError` when the page has
    no token list, and the client's mapped errors.
    """
    version = client.version_tuple(credential=credential)
    if version is not None and version < NEW_TOKENS_SINCE:
        raise JenkinsUnsupported(
            f"Jenkins at {client.url} is {'.'.join(map(str, version))}: before 2.129 there is no "
            "token list, only the single legacy token.", url=client.url, user=user)
    what = f"reading the API token list of user {user!r}"
    paths = token_page_paths(client, user, version)
    for index, path in enumerate(paths):
        try:
            response = client.get(path, credential=credential, user=user, what=what)
            break
        except JenkinsNotFound:
            if index == len(paths) - 1:
                raise
    try:
        return parse_token_page(response.text)
    except ValueError:
        shown = safe_url(response.url)
        raise JenkinsProtocolError(
            f"Jenkins at {shown} answered {what} with a page that has no token list. Is a login "
            "page or a proxy in the way, or does the credential lack access to this user?",
            url=shown, user=user, status=response.status) from None


def list_tokens_by_script(client, credential: Credential, user: str) -> list[TokenInfo]:
    """``user``'s tokens through the script console (``POST /scriptText``, administrator).

    Raises :class:`~jenkins_broker.errors.JenkinsScriptError` when the script
    fails or refuses, and the client's mapped errors.
    """
    what = f"listing the API tokens of user {user!r} through the script console"
    output = client.script_text(credential, scripts.render("list-tokens", user=user),
                                user=user, what=what)
    url = client.url + "scriptText"
    try:
        result = scripts.parse_output(output, operation="list-tokens", url=url, user=user)
    except JenkinsScriptError as exc:
        raise scrub(exc, (credential.secret,)) from None
    try:
        return tokens_from_script(result)
    except ValueError as exc:
        raise JenkinsProtocolError(f"The list-tokens script at {url} printed a result of the "
                                   f"wrong shape ({exc}).", url=url, user=user) from None
