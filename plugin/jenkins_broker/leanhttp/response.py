"""An answer of the lean session, read in full: what callers read of ``requests.Response``."""

from __future__ import annotations

import http.cookiejar
import json as jsonlib
from dataclasses import dataclass
from typing import Any

import requests.exceptions as rexc
from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class Cookie:
    """One cookie a response set: only what callers read."""

    name: str
    value: str

    def __repr__(self) -> str:  # a session cookie is a credential: never show its value
        return f"Cookie({self.name!r}, <hidden>)"


class LeanResponse:
    """An answer, read in full: the attributes of ``requests.Response`` the broker reads."""

    def __init__(self, status: int, reason: str, headers: CaseInsensitiveDict,
                 content: bytes, url: str, set_cookies: list[str]):
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content = content
        self.url = url
        self._set_cookies = set_cookies

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def encoding(self) -> str:
        """The charset of ``Content-Type``; else requests' defaults (Latin-1 for text/*)."""
        kind, _, params = self.headers.get("Content-Type", "").partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("'\"")
        return "ISO-8859-1" if kind.strip().lower().startswith("text/") else "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``requests.exceptions.JSONDecodeError`` if it is not."""
        try:
            return jsonlib.loads(self.content)
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8/16/32
            raise rexc.JSONDecodeError(getattr(exc, "msg", str(exc)), getattr(exc, "doc", ""),
                                       getattr(exc, "pos", 0)) from None

    @property
    def cookies(self) -> list[Cookie]:
        """Every cookie of the ``Set-Cookie`` headers (name and value only)."""
        found: list[Cookie] = []
        # The first name=value of each header is the cookie; the rest are attributes,
        # known or not (Partitioned, Priority=High, ...), as http.cookiejar reads them.
        for pairs in http.cookiejar.parse_ns_headers(self._set_cookies):
            name, value = pairs[0] if pairs else ("", None)
            if name and value is not None:
                found.append(Cookie(name, value))
        return found

    def raise_for_status(self) -> None:
        if not self.ok:
            raise rexc.HTTPError(f"{self.status_code} {self.reason} for url: {self.url}")

    def __repr__(self) -> str:
        return f"<LeanResponse [{self.status_code}]>"
