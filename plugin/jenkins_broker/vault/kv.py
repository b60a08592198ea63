"""Thin typed helpers over Vault's KV secrets engines.

- :class:`KVv2` over the broker's private state mount (default ``jenkins-broker/``):
  versioned records, check-and-set writes, deletes that leave nothing behind.
- :class:`KVv1` over the shared-credentials mount (default ``jenkins/``), where
  ``vault read jenkins/creds/<role>`` must answer without a ``data/`` prefix.

Each method is exactly one HTTP request through the broker's
:class:`~jenkins_broker.vault.client.VaultClient`: no read-before-write, no metadata
lookups. Paths are checked locally first, because an HTTP client may collapse
``..`` segments (urllib3 does) and ``roles/../config`` would otherwise reach ``config``.
"""

from __future__ import annotations

from typing import Any

from jenkins_broker.errors import VaultInvalidRequest
from jenkins_broker.vault.client import VaultClient

DEFAULT_KV2_MOUNT = "jenkins-broker"
DEFAULT_KV1_MOUNT = "jenkins"
_MAX_PATH = 1024


def check_path(path: str, *, allow_empty: bool = False) -> str:
    """Return ``path`` without surrounding slashes, or raise VaultInvalidRequest.

    Refused: empty segments, ``.`` and ``..``, control characters, over 1024 chars.
    """
    if not isinstance(path, str):
        raise VaultInvalidRequest(f"a Vault path must be a string, not {type(path).__name__}")
    clean = path.strip("/")
    if not clean:
        if allow_empty:
            return ""
        raise VaultInvalidRequest("a Vault path must not be empty", path=path)
    if len(clean) > _MAX_PATH:
        raise VaultInvalidRequest(f"a Vault path must be at most {_MAX_PATH} characters",
                                  path=clean[:64] + "…")
    if not clean.isprintable():
        raise VaultInvalidRequest("a Vault path must not contain control characters",
                                  path=repr(clean))
    if any(seg in ("", ".", "..") for seg in clean.split("/")):
        raise VaultInvalidRequest(f"refusing Vault path {clean!r}: empty, '.' or '..' segment",
                                  path=clean)
    return clean


def _mount(mount: str) -> str:
    try:
        return check_path(mount)
    except VaultInvalidRequest:
        raise VaultInvalidRequest(f"bad mount path {mount!r}") from None


class _KV:
    def __init__(self, client: VaultClient, mount: str):
        self._client = client
        self.mount = _mount(mount)

    def _list(self, api: str) -> list[str]:
        body = self._client.request("LIST", api, action="list", absent=None)
        return list(body["data"].get("keys") or []) if body else []


class KVv2(_KV):
    """Typed access to a KV version 2 mount (default ``jenkins-broker``).

    Every method raises VaultUnavailable (down, sealed, 5xx), VaultForbidden
    (403), VaultNotFound (the mount does not exist), VaultInvalidRequest (a bad
    path or a 400), as mapped in :mod:`jenkins_broker.vault.translate`.
    """

    def __init__(self, client: VaultClient, mount: str = DEFAULT_KV2_MOUNT):
        super().__init__(client, mount)

    def read(self, path: str, version: int | None = None) -> tuple[dict[str, Any], int] | None:
        """Return ``(data, version)`` of the latest version (or of ``version``), or None if
        absent.

        ``GET /v1/<mount>/data/<path>[?version=N]``. A soft-deleted version counts as absent.
        """
        path = check_path(path)
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or version < 1):
            raise VaultInvalidRequest(f"version must be a positive int, not {version!r}",
                                      path=path)
        resp = self._client.request("GET", f"{self.mount}/data/{path}", action="read",
                                    absent=None,
                                    query=None if version is None else {"version": version})
        if resp is None:  # also a soft-deleted latest version
            return None
        body = resp["data"]
        if body.get("data") is None:  # destroyed or deleted version returned as 200
            return None
        return body["data"], int(body["metadata"]["version"])

    def write(self, path: str, data: dict[str, Any], cas: int | None = None) -> int:
        """Write a new version and return its number.

        ``POST /v1/<mount>/data/<path>``. With ``cas``, the write only succeeds if
        the current version is ``cas`` (0: only if absent); otherwise
        VaultConflict is raised.
        """
        path = check_path(path)
        if not isinstance(data, dict):
            raise VaultInvalidRequest("KV data must be a dict", path=path)
        body: dict[str, Any] = {"data": data}
        if cas is not None:
            if isinstance(cas, bool) or not isinstance(cas, int) or cas < 0:
                raise VaultInvalidRequest(f"cas must be a non-negative int, not {cas!r}",
                                          path=path)
            body["options"] = {"cas": cas}
        resp = self._client.request("POST", f"{self.mount}/data/{path}", action="write",
                                    json=body)
        return int(resp["data"]["version"])

    def delete(self, path: str) -> None:
        """Delete every version and the metadata of ``path``; nothing lingers.

        ``DELETE /v1/<mount>/metadata/<path>``. Deleting an absent path is not an error.
        """
        path = check_path(path)
        self._client.request("DELETE", f"{self.mount}/metadata/{path}", action="delete")

    def destroy(self, path: str, versions: list[int]) -> None:
        """Destroy ``versions`` of ``path`` for good (their data; the metadata stays).

        ``POST /v1/<mount>/destroy/<path>``.
        """
        path = check_path(path)
        if versions:
            self._client.request("POST", f"{self.mount}/destroy/{path}", action="destroy",
                                 json={"versions": list(versions)})

    def list(self, path: str = "") -> list[str]:
        """Return the keys under ``path`` (folders end in ``/``); [] if there are none.

        ``LIST /v1/<mount>/metadata/<path>``.
        """
        path = check_path(path, allow_empty=True)
        return self._list(f"{self.mount}/metadata/{path}".rstrip("/"))


class KVv1(_KV):
    """Typed access to a KV version 1 mount (default ``jenkins``).

    Raises as :class:`KVv2` does (no VaultConflict: KV v1 has no versions).
    """

    def __init__(self, client: VaultClient, mount: str = DEFAULT_KV1_MOUNT):
        super().__init__(client, mount)

    def read(self, path: str) -> dict[str, Any] | None:
        """Return the data at ``path``, or None if absent. ``GET /v1/<mount>/<path>``."""
        path = check_path(path)
        resp = self._client.request("GET", f"{self.mount}/{path}", action="read", absent=None)
        return None if resp is None else resp["data"]

    def write(self, path: str, data: dict[str, Any]) -> None:
        """Replace the data at ``path``. ``POST /v1/<mount>/<path>``.

        A ``ttl`` key makes ``vault read`` show it as ``refresh_interval``.
        """
        path = check_path(path)
        if not isinstance(data, dict):
            raise VaultInvalidRequest("KV data must be a dict", path=path)
        self._client.request("POST", f"{self.mount}/{path}", action="write", json=data)

    def delete(self, path: str) -> None:
        """Delete ``path``; absent is not an error. ``DELETE /v1/<mount>/<path>``."""
        path = check_path(path)
        self._client.request("DELETE", f"{self.mount}/{path}", action="delete")

    def list(self, path: str = "") -> list[str]:
        """Return the keys under ``path``; [] if none. ``LIST /v1/<mount>/<path>``."""
        path = check_path(path, allow_empty=True)
        return self._list(f"{self.mount}/{path}".rstrip("/"))
