"""A stand-in for the one call Vault's Kubernetes auth makes to the Kubernetes API:
``POST /apis/authentication.k8s.io/v1/tokenreviews``.

Vault checks a service-account JWT by asking the API server to review it (TokenReview).
:class:`KubeAPIStandIn` answers for the tokens it issued (:meth:`service_account_token`, a JWT
shaped like a projected service-account token: ``sub``, ``aud`` and the ``kubernetes.io``
claims, signed with a key of its own) and refuses any other, so a test can run Vault's
Kubernetes auth, the broker's Kubernetes login and ``deploy/kubernetes/vault-setup.sh``
without a cluster. It checks what Kubernetes checks of a review: that the token is one it
issued and that the audiences asked for (``spec.audiences``) are among the token's.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

from tests.support.oidc import IssuerStandIn
from tests.support.processes import answer_json, serving


class KubeAPIStandIn:
    """The TokenReview API of a cluster, for the service-account tokens it issued."""

    ISSUER = "https://kubernetes.default.svc.cluster.local"

    def __init__(self) -> None:
        self._signer = IssuerStandIn()
        self._issued: dict[str, dict[str, Any]] = {}
        self.reviews: list[dict[str, Any]] = []   # the review requests received, in order
        self.url = ""
        self.ca_pem = ""                          # the CA of its certificate, PEM, while running

    def service_account_token(self, namespace: str, name: str, audiences: list[str],
                              ttl: int = 3600) -> str:
        """A projected service-account token for ``namespace/name`` with ``audiences``."""
        sa_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}"))
        token = self._signer.jwt({"iss": self.ISSUER, "aud": audiences,
                                  "sub": f"system:serviceaccount:{namespace}:{name}",
                                  "kubernetes.io": {"namespace": namespace,
                                                    "serviceaccount": {"name": name, "uid": sa_uid}}},
                                 ttl=ttl)
        self._issued[token] = {"namespace": namespace, "name": name, "uid": sa_uid,
                               "audiences": audiences}
        return token

    def review(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec") or {}
        self.reviews.append(spec)
        known = self._issued.get(spec.get("token", ""))
        asked = spec.get("audiences") or [self.ISSUER]
        status: dict[str, Any] = {"authenticated": False}
        if known is None:
            status["error"] = "invalid bearer token"
        elif not set(asked) & set(known["audiences"]):
            status["error"] = "token audiences do not match the audiences asked for"
        else:
            status = {"authenticated": True, "audiences": [a for a in asked if a in known["audiences"]],
                      "user": {"username": f"system:serviceaccount:{known['namespace']}:{known['name']}",
                               "uid": known["uid"],
                               "groups": ["system:serviceaccounts",
                                          f"system:serviceaccounts:{known['namespace']}"]}}
        return {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    @contextlib.contextmanager
    def running(self) -> Iterator[KubeAPIStandIn]:
        """Serve HTTPS on a free loopback port for the block, with a certificate for
        127.0.0.1 from a CA of its own (``ca_pem``), as an API server has."""
        import trustme
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                found = self.path == "/apis/authentication.k8s.io/v1/tokenreviews"
                answer_json(self, 201 if found else 404, api.review(request) if found else {"kind": "Status"})

            def log_message(self, *args):
                pass

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        with serving(server, scheme="https") as url:
            self.url, self.ca_pem = url, ca.cert_pem.bytes().decode("ascii")
            try:
                yield self
            finally:
                self.url = self.ca_pem = ""
