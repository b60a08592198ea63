"""The engine's TLS identity for go-plugin's AutoMTLS, and the TLS contexts built on it.

OpenBao talks to a v5 plugin only over mutual TLS. It passes its own
certificate in ``PLUGIN_CLIENT_CERT``; the plugin makes a fresh key and a
self-signed certificate at every start and prints the certificate in its
handshake line. OpenBao then trusts exactly that certificate as the server
(name ``localhost``), and the plugin trusts exactly OpenBao's, both ways: for
the plugin's own gRPC server and for the brokered connection it dials back for
Storage.

The certificate is built here without any C extension (the plugin ships as one
file that must not need compiled code): an ECDSA P-256 key from the
pure-Python ``ecdsa`` package, the X.509 structure encoded by the small DER
writer below. Python's ``ssl`` loads it and speaks TLS; ``ssl`` also handles
OpenBao's P-521 certificate, which grpcio's TLS cannot.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import ecdsa
from ecdsa.util import sigencode_der

HOST = "localhost"
# OIDs, as dotted strings.
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_PRIME256V1 = "1.2.840.10045.3.1.7"
_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_COMMON_NAME = "2.5.4.3"
_ORGANIZATION = "2.5.4.10"
_SUBJECT_KEY_ID = "2.5.29.14"
_KEY_USAGE = "2.5.29.15"
_SUBJECT_ALT_NAME = "2.5.29.17"
_BASIC_CONSTRAINTS = "2.5.29.19"
_EXT_KEY_USAGE = "2.5.29.37"
_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


# -- a minimal DER writer: just the types a certificate needs ----------------------------

def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _set(*parts: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(parts)))


def _int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return _tlv(0x02, raw)


def _oid(dotted: str) -> bytes:
    numbers = [int(n) for n in dotted.split(".")]
    body = bytearray([40 * numbers[0] + numbers[1]])
    for number in numbers[2:]:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _bits(data: bytes, unused: int = 0) -> bytes:
    return _tlv(0x03, bytes([unused]) + data)


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _utf8(text: str) -> bytes:
    return _tlv(0x0C, text.encode("utf-8"))


def _time(moment: datetime) -> bytes:
    # RFC 5280: UTCTime up to 2049, GeneralizedTime from 2050 on.
    if moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _explicit(number: int, body: bytes) -> bytes:
    return _tlv(0xA0 | number, body)


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    return _seq(_oid(oid), *([_tlv(0x01, b"\xff")] if critical else []), _octets(value))


def _name() -> bytes:
    return _seq(_set(_seq(_oid(_ORGANIZATION), _utf8("jenkins-broker"))),
                _set(_seq(_oid(_COMMON_NAME), _utf8(HOST))))


# -- the identity --------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """A certificate and its private key, both PEM; ``der`` is the certificate's DER."""

    cert_pem: str
    key_pem: str = field(repr=False)
    der: bytes = field(repr=False)

    @property
    def handshake_cert(self) -> str:
        """The certificate as go-plugin's handshake line carries it: base64 of the DER, no padding."""
        return base64.b64encode(self.der).decode("ascii").rstrip("=")


def generate_identity(*, now: datetime | None = None, lifetime: timedelta = timedelta(days=3650)) -> Identity:
    """Make a new P-256 key and a self-signed certificate for ``localhost``.

    The certificate is a CA (OpenBao puts it in its trust pool) usable for
    both server and client authentication, as go-plugin's own are. Touches
    nothing outside this process.
    """
    key = ecdsa.SigningKey.generate(curve=ecdsa.NIST256p, entropy=os.urandom)
    point = key.get_verifying_key().to_string("uncompressed")
    start = (now or datetime.now(timezone.utc)).replace(microsecond=0) - timedelta(seconds=30)
    algorithm = _seq(_oid(_ECDSA_SHA256))
    extensions = _seq(
        _extension(_BASIC_CONSTRAINTS, _seq(_tlv(0x01, b"\xff")), critical=True),
        # digitalSignature (bit 0) and keyCertSign (bit 5): 1000 0100, two unused bits.
        _extension(_KEY_USAGE, _bits(b"\x84", unused=2), critical=True),
        _extension(_EXT_KEY_USAGE, _seq(_oid(_SERVER_AUTH), _oid(_CLIENT_AUTH))),
        _extension(_SUBJECT_ALT_NAME, _seq(_tlv(0x82, HOST.encode("ascii")))),
        _extension(_SUBJECT_KEY_ID, _octets(hashlib.sha1(point).digest())),
    )
    tbs = _seq(
        _explicit(0, _int(2)),  # X.509 v3
        _int(secrets.randbits(127) | 1),
        algorithm,
        _name(),
        _seq(_time(start), _time(start + lifetime)),
        _name(),
        _seq(_seq(_oid(_EC_PUBLIC_KEY), _oid(_PRIME256V1)), _bits(point)),
        _explicit(3, extensions),
    )
    signature = key.sign_deterministic(tbs, hashfunc=hashlib.sha256, sigencode=sigencode_der)
    der = _seq(tbs, algorithm, _bits(signature))
    return Identity(cert_pem=ssl.DER_cert_to_PEM_cert(der), key_pem=key.to_pem(format="pkcs8").decode("ascii"),
                    der=der)


def _load_identity(context: ssl.SSLContext, identity: Identity) -> None:
    # ssl reads certificates and keys only from files: write them into a private
    # directory and remove it as soon as they are loaded.
    folder = tempfile.mkdtemp(prefix="jenkins-broker-tls-")
    try:
        path = os.path.join(folder, "identity.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(identity.key_pem + identity.cert_pem)
        context.load_cert_chain(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def server_context(identity: Identity, client_cert_pem: str) -> ssl.SSLContext:
    """TLS for the plugin's gRPC server: present ``identity``, require OpenBao's certificate.

    Raises ``ssl.SSLError`` when ``client_cert_pem`` holds no usable certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_identity(context, identity)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=client_cert_pem)
    context.set_alpn_protocols(["h2"])
    return context


def client_context(identity: Identity, server_cert_pem: str) -> ssl.SSLContext:
    """TLS for dialling back to OpenBao's brokered services: trust only OpenBao's
    certificate (for ``localhost``) and present ``identity`` as the client."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_identity(context, identity)
    context.load_verify_locations(cadata=server_cert_pem)
    context.check_hostname = True
    context.set_alpn_protocols(["h2"])
    return context
