"""A stand-in OIDC issuer on loopback, for the JWT logins of the CI examples.

GitHub Actions and GitLab CI hand a job a JWT signed by their OIDC issuer; Vault's JWT
auth checks it against the issuer's discovery document and keys. :class:`IssuerStandIn`
serves both (``/.well-known/openid-configuration`` and ``/jwks``) for one RSA key of its
own, on a free loopback port, and signs JWTs with it (RS256, as both CI systems do), so
the examples' ``vault-setup.sh`` scripts can point Vault at it instead of the real issuer,
and a test can log in with a JWT shaped like the one the CI system would send.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.processes import answer_json, serving


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class IssuerStandIn:
    """An OIDC issuer: its URL is the ``iss`` of the JWTs it signs (:meth:`jwt`)."""

    KID = "test-key-1"

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.KID,
                          "n": _uint(numbers.n), "e": _uint(numbers.e)}]}

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.url, "jwks_uri": f"{self.url}/jwks",
                "authorization_endpoint": f"{self.url}/authorize",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def jwt(self, claims: dict[str, Any], ttl: int = 300) -> str:
        """A JWT with ``claims`` (``iss``, ``iat``, ``nbf``, ``exp`` and ``jti`` added unless
        given), signed RS256 with the issuer's key."""
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "nbf": now - 5, "exp": now + ttl,
                "jti": uuid.uuid4().hex, **claims}
        head = {"alg": "RS256", "typ": "JWT", "kid": self.KID}
        signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode())
                                 for part in (head, body))
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    @contextlib.contextmanager
    def running(self) -> Iterator[IssuerStandIn]:
        """Serve on a free loopback port for the block (stopped at the end, failed or not)."""
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                pages = {"/.well-known/openid-configuration": issuer.discovery, "/jwks": issuer.jwks}
                page = pages.get(self.path)
                answer_json(self, 200 if page else 404, page() if page else {})

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        with serving(server) as url:
            self.url = url
            try:
                yield self
            finally:
                self.url = ""
