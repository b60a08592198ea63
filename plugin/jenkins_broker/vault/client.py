"""The broker's HTTP client for Vault, on :class:`jenkins_broker.transport.Session`.

Everything the running broker says to Vault goes through a :class:`VaultClient`:
its logins, its token renewals, its lease records (KV), and the questions it asks
about callers with the callers' own tokens. One call is one request, with the token
in a per-request header, so one client serves the broker's identity (``token``,
replaced when it logs in again) and any caller's (``token=`` on a call).

Answers become data or a :class:`~jenkins_broker.errors.VaultError` through
:mod:`jenkins_broker.vault.translate`, the one table for Vault's statuses and for
transport failures; no message carries a token. hvac remains for administrative
work only (``jenkins-broker bootstrap``, the dev server helper).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from jenkins_broker import transport
from jenkins_broker.errors import ConfigError, VaultUnavailable
from jenkins_broker.vault.settings import VaultSettings
from jenkins_broker.vault.translate import error_for_status, not_vault, transport_error

POOL_SIZE = 32


class VaultClient:
    """One Vault server, as the broker talks to it.

    ``settings`` give the address, TLS, client certificate, namespace and timeout;
    ``token`` is the broker's own (empty until it logs in). ``session`` replaces the
    transport (built from ``settings`` when not given). Thread-safe.
    """

    def __init__(self, settings: VaultSettings, token: str = "", *, pool_size: int = POOL_SIZE,
                 session: transport.Session | None = None):
        self.url = settings.addr.rstrip("/")
        self.token = token
        self._headers = {"X-Vault-Request": "true"}
        if settings.namespace:
            self._headers["X-Vault-Namespace"] = settings.namespace
        if session is None:
            try:
                session = transport.Session(self.url, timeout=settings.timeout,
                                            verify=settings.verify, cert=settings.cert or None,
                                            pool_size=pool_size)
            except transport.TransportError as exc:
                raise ConfigError(f"Vault TLS settings (VAULT_CACERT, VAULT_CAPATH, "
                                  f"VAULT_CLIENT_CERT) cannot be used: {exc.reason}") from None
        self._session = session

    @property
    def session(self) -> transport.Session:
        """The transport this client sends through."""
        return self._session

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._session.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VaultClient({self.url!r})"

    def request(self, method: str, api: str, *, action: str, json: Any = None,
                token: str | None = None, kind: str = "op", secrets: tuple[str, ...] = (),
                hint: str | None = None, absent: Any = ..., any_status: bool = False,
                query: dict[str, str | int] | str | None = None,
                headers: dict[str, str] | None = None, with_status: bool = False) -> Any:
        """``method /v1/<api>[?query]`` and return Vault's JSON answer (None for 204).

        ``token`` is sent in ``X-Vault-Token`` (default: the broker's own; ``""``: none,
        for a login). ``action`` says in a few words what was being done, for messages.
        ``absent``: returned for a 404 that means "no such key" (Vault's empty
        ``errors`` list) rather than "no such mount". ``any_status``: return the JSON
        of any answer (``sys/health`` answers 429, 472, 473, 501, 503 by design).
        Raises the :mod:`~jenkins_broker.vault.translate` error otherwise.
        """
        token = self.token if token is None else token
        headers = {**self._headers, **(headers or {})}
        if token:
            headers["X-Vault-Token"] = token
        hidden = (*secrets, token)
        # Quote everything but "/": a "?" or "#" in a key must not become a query.
        url = f"{self.url}/v1/{quote(api, safe='/')}"
        if query:
            url += "?" + (query if isinstance(query, str) else urlencode(query))
        try:
            # Followed, as Vault's own clients do: a standby node answers 307 with the active
            # node's address, and the token goes along (it is Vault's token, for Vault).
            resp = self._session.request(method, url, json=json, headers=headers, redirect=True)
        except transport.TransportError as exc:
            raise transport_error(exc, addr=self.url, path=api, action=action) from None
        wrong = not_vault(resp.status, resp.headers, resp.text, addr=self.url, path=api, action=action)
        if wrong is not None:  # Jenkins, or an HTTPS server asked in plain HTTP: not Vault at all
            raise wrong
        if with_status:  # (status, body) of any answer; a body that is not JSON: None
            try:
                return resp.status, (resp.json() if resp.body else None)
            except ValueError:
                return resp.status, None
        if resp.status == 204 and not any_status:
            return None
        try:
            body = resp.json() if resp.body else None
        except ValueError:
            body = None
            if resp.status < 300 or any_status:
                raise VaultUnavailable(
                    f"Could not {action} at {self.url}/v1/{api}: the answer (HTTP {resp.status}) "
                    "was not Vault's JSON; is VAULT_ADDR pointing at Vault and not at a proxy "
                    "page?", path=api, status=resp.status) from None
        if resp.status < 300 or any_status:
            return body
        errors = body.get("errors") if isinstance(body, dict) else [resp.text[:200]]
        if resp.status == 404 and absent is not ... and not [e for e in errors or () if e]:
            return absent
        raise error_for_status(resp.status, errors, addr=self.url, path=api, action=action,
                               kind=kind, secrets=hidden, hint=hint)
