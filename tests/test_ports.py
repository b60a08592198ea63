"""The fakes implement the same ports as the real classes: every member of each protocol,
with a call signature the domain's calls fit (names, kinds, defaults).

A fake that lacks a port method, or takes its arguments another way, would let the unit
tests pass against behaviour the real class does not have (or the reverse); the domain
would then be reaching past its declared ports. Return types are left to mypy, which
reads the same protocols.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import hvac
import pytest

from jenkins_broker.domain.credentials import CredentialGateway, CredentialStore
from jenkins_broker.domain.jenkins_config import JenkinsConfig
from jenkins_broker.domain.leases import CallerTokens, Gateway, LeaseManager, Minted, Scheduler, Store
from jenkins_broker.domain.quota import QuotaStore
from jenkins_broker.domain.reaper import IndexStore, LeaseSchedule, Reaper
from jenkins_broker.domain.reconcile import ReconcileGateway, ReconcileStore, RecordIndex
from jenkins_broker.domain.shared_mode import SharedStore
from jenkins_broker.domain.tokenwatch import LeaseIndex, LeaseRevoker
from jenkins_broker.jenkins.gateway import ConnectionStore, JenkinsGateway
from jenkins_broker.jenkins.models import MintedToken
from jenkins_broker.server.services import BrokerGateway, BrokerStore, CallerAuthority
from jenkins_broker.vault.authz import CallerAuthz
from jenkins_broker.vault.settings import VaultSettings
from jenkins_broker.vault.store import VaultStore
from jenkins_broker.web.auth import Authorizer
from tests.fakes import FakeGateway, FakeMinted, MemoryStore
from tests.support.web import PolicyAuthorizer
from tests.test_tls_defaults import _Store as TlsStore
from tests.test_tokenwatch import Tokens

STORE = (Store, IndexStore, ReconcileStore, SharedStore, CredentialStore, QuotaStore, ConnectionStore,
         BrokerStore)
GATEWAY = (Gateway, ReconcileGateway, CredentialGateway, BrokerGateway)
AUTHORIZER = (Authorizer, CallerTokens, CallerAuthority)
INDEX = (Scheduler, RecordIndex, LeaseIndex)


def _vault_store():
    return VaultStore(hvac.Client(url="http://127.0.0.1:1"))


def _gateway():
    store = MemoryStore()
    store.config = JenkinsConfig(url="http://jenkins.test/")
    return JenkinsGateway(store)


def _authz():
    return CallerAuthz(VaultSettings(addr="http://127.0.0.1:1", token="t"), broker_token=lambda: "t")


def _reaper():
    store = MemoryStore()
    return Reaper(LeaseManager(store, FakeGateway(), scheduler=LeaseSchedule()), store)


def _manager():
    return LeaseManager(MemoryStore(), FakeGateway())


def _minted():
    return MintedToken(user="u", uuid="0" * 32, name="n", value="11" + "0" * 32)


# name -> (how to build one, the protocols it implements). Real classes first, then each
# stand-in the tests hand to the domain in their place.
IMPLEMENTATIONS: dict[str, tuple[Any, tuple[type, ...]]] = {
    "VaultStore": (_vault_store, STORE),
    "JenkinsGateway": (_gateway, GATEWAY),
    "CallerAuthz": (_authz, AUTHORIZER),
    "LeaseSchedule": (LeaseSchedule, INDEX),
    "Reaper": (_reaper, (RecordIndex, LeaseIndex)),
    "MintedToken": (_minted, (Minted,)),
    "LeaseManager": (_manager, (LeaseRevoker,)),
    # The stand-ins.
    "MemoryStore": (MemoryStore, STORE),
    "FakeGateway": (FakeGateway, GATEWAY),
    "FakeMinted": (lambda: FakeMinted("u", "0" * 16, "n", "11"), (Minted,)),
    "PolicyAuthorizer": (lambda: PolicyAuthorizer({}), AUTHORIZER),
    "Tokens": (Tokens, (CallerTokens,)),
    "TlsStore": (lambda: TlsStore(None), (ConnectionStore,)),
}
REAL = {"VaultStore", "JenkinsGateway", "CallerAuthz", "LeaseSchedule", "Reaper", "MintedToken",
        "LeaseManager"}

if TYPE_CHECKING:
    def _statically(store: VaultStore, gateway: JenkinsGateway, authz: CallerAuthz,
                    schedule: LeaseSchedule, reaper: Reaper, minted: MintedToken,
                    manager: LeaseManager) -> None:
        """The same pairs for mypy, which also compares the types."""
        _stores: list[BrokerStore] = [store, MemoryStore()]
        _gateways: list[BrokerGateway] = [gateway, FakeGateway()]
        _authorizers: list[CallerAuthority] = [authz, PolicyAuthorizer({})]
        _tokens: list[CallerTokens] = [Tokens()]
        _connections: list[ConnectionStore] = [TlsStore(None)]
        _schedulers: list[Scheduler] = [schedule]
        _indexes: list[RecordIndex] = [schedule, reaper]
        _accessors: list[LeaseIndex] = [schedule, reaper]
        _minted: list[Minted] = [minted, FakeMinted("u", "0" * 16, "n", "11")]
        _revokers: list[LeaseRevoker] = [manager]  # and benchmarks/tokenwatch.py's _Manager


def _members(protocol: type) -> dict[str, Any]:
    """The protocol's members, its own and inherited from the protocols it extends:
    name -> the function, the property, or None for an annotated attribute."""
    found: dict[str, Any] = {}
    for cls in reversed(protocol.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        for name in (*vars(cls).get("__annotations__", {}), *vars(cls)):
            if not name.startswith("_"):
                found[name] = vars(cls).get(name)
    return found


def _signature_problems(name: str, wanted: Any, given: Any) -> list[str]:
    """Why a call the protocol allows might not fit the implementation."""
    want = list(inspect.signature(wanted).parameters.values())[1:]  # without self
    have = list(inspect.signature(given).parameters.values())
    if have and have[0].name == "self":
        have = have[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in have):
        return []
    problems = []
    positional = [p for p in have if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name: p for p in have}
    looked_at = set()
    for index, param in enumerate(want):
        if param.kind == param.KEYWORD_ONLY:
            mine = by_name.get(param.name)
            if mine is None or mine.kind == mine.POSITIONAL_ONLY:
                problems.append(f"{name}: no keyword argument {param.name!r}")
                continue
        else:
            mine = positional[index] if index < len(positional) else None
            if mine is None or mine.name != param.name:
                problems.append(f"{name}: argument {index + 1} is {param.name!r} in the protocol, "
                                f"{mine.name if mine else 'missing'!r} here")
                looked_at.add(mine.name if mine else None)
                continue
        looked_at.add(mine.name)
        if param.default is not param.empty and mine.default is mine.empty:
            problems.append(f"{name}: {param.name!r} has a default in the protocol, none here")
    extra = [p.name for p in have if p.name not in looked_at and p.default is p.empty]
    if extra:
        problems.append(f"{name}: required arguments the protocol does not pass: {extra}")
    return problems


def _problems(obj: Any, protocol: type) -> list[str]:
    problems = []
    for name, member in _members(protocol).items():
        found = inspect.getattr_static(obj, name, None)
        if found is None and name not in vars(obj) and not hasattr(type(obj), name):
            problems.append(f"{name}: missing")
            continue
        if inspect.isfunction(member):
            if isinstance(found, (staticmethod, classmethod)):
                found = found.__func__
            if not callable(found):
                problems.append(f"{name}: a method in the protocol, not callable here")
                continue
            problems += _signature_problems(name, member, found)
        elif inspect.isfunction(found):
            problems.append(f"{name}: an attribute in the protocol, a method here")
    return problems


CASES = [(impl, proto) for impl, (_, protocols) in IMPLEMENTATIONS.items() for proto in protocols]


@pytest.mark.parametrize("impl,protocol", CASES,
                         ids=[f"{impl}-{proto.__name__}" for impl, proto in CASES])
def test_each_implementation_provides_every_member_of_its_ports(impl, protocol):
    obj = IMPLEMENTATIONS[impl][0]()
    try:
        assert _problems(obj, protocol) == []
        assert isinstance(obj, protocol)  # typing.runtime_checkable's own (names only) check
    finally:
        for close in ("close", "stop"):
            if callable(getattr(type(obj), close, None)):
                getattr(obj, close)()


def test_each_fake_stands_in_for_a_real_class_with_the_same_ports():
    """A stand-in implements every port its real class implements: nothing the domain
    calls on the real one is missing from the fake, or the reverse."""
    real = {protocols: name for name, (_, protocols) in IMPLEMENTATIONS.items() if name in REAL}
    for name, (_, protocols) in IMPLEMENTATIONS.items():
        if name not in REAL and name not in ("Tokens", "TlsStore"):  # partial stand-ins, by design
            assert protocols in real, f"{name} implements no real class's full set of ports"


def test_every_fake_in_the_tests_is_checked():
    """A new Fake* class (or a new stand-in in tests/fakes.py) must be added above."""
    tests = Path(__file__).parent
    defined = set()
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and (node.name.startswith("Fake")
                                                   or path.name == "fakes.py"):
                defined.add(node.name)
    assert defined - {"Clock"} <= set(IMPLEMENTATIONS)


def test_the_check_itself_catches_a_missing_method_and_a_different_signature():
    class Partial:
        jenkins_url = "http://jenkins.test/"

        def call_timeout(self):  # an attribute in the protocol
            ...

        def mint(self, role, token_name):  # another name for the second argument
            ...

        def revoke(self, record, why):  # an argument the domain never passes
            ...

    assert _problems(Partial(), Gateway) == [
        "call_timeout: an attribute in the protocol, a method here",
        "mint: argument 2 is 'name' in the protocol, 'token_name' here",
        "revoke: required arguments the protocol does not pass: ['why']",
    ]

    class NoDefault:
        def put_lease(self, record, cas):
            ...

    problems = _problems(NoDefault(), Store)
    assert "put_lease: 'cas' has a default in the protocol, none here" in problems
    assert "get_role: missing" in problems
