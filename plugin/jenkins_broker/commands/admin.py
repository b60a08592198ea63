"""The administrative commands of ``jenkins-broker``: config, credentials, roles,
mint, leases, revoke and reap (what they print goes through :mod:`.output`).

They talk to Vault directly with the operator's own Vault token (``VAULT_ADDR``,
``VAULT_TOKEN``, as the Vault CLI reads them), so they work whether or not a
broker is running. ``leases`` and ``revoke`` go through a running broker's API
instead when ``JENKINS_BROKER_ADDR`` is set: that is how an auditor, who may not
read Jenkins credentials, kills tokens. :mod:`jenkins_broker.commands.cli` builds the
parser and dispatches here.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import time
from typing import Any, Callable

from ..errors import BrokerError
from .output import emit, emit_rows

# -- plumbing --------------------------------------------------------------------

# A Vault token that may write stored secrets but not read them (jenkins-admin's, by design).
UNREADABLE_SECRET = ("this Vault token may not read the secret of credential {name!r} (the "
                     "jenkins-admin policy writes secrets and never reads them back), so it "
                     "cannot {what}")

def open_store():
    """The Vault store, logged in with the environment's Vault settings."""
    from ..server.settings import BrokerSettings
    from ..vault.login import connect
    from ..vault.settings import VaultSettings
    from ..vault.store import VaultStore

    settings = BrokerSettings.from_env()
    client, _ = connect(VaultSettings.from_env())
    return VaultStore(client, kv_mount=settings.kv_mount, shared_mount=settings.shared_mount,
                      cache_seconds=0)


def open_manager(scheduler=None):
    """A lease manager over the environment's Vault and the Jenkins stored in it (scheduling
    into ``scheduler``, if given)."""
    from ..domain.leases import LeaseManager
    from ..jenkins.gateway import JenkinsGateway

    store = open_store()
    gateway = JenkinsGateway(store)
    return LeaseManager(store, gateway, scheduler=scheduler), store, gateway


#: What people type where a secret goes until they have the real one: ellipses, x's and stars,
#: <anything>, ${VAR} / $VAR / {{ var }} left unexpanded, and a few words.
_PLACEHOLDER = re.compile(
    r"[.…*]+|[xX]{3,}|<[^<>]*>|\$\{\w+\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|\[[^\[\]]*\]"
    r"|(?i:(?:your|my|the|jenkins|api)?[-_ ]?(?:token|password|passwd|secret|api[-_ ]?token)(?:[-_ ]?here)?"
    r"|change[-_ ]?me|replace[-_ ]?me|placeholder|todo|tbd|fixme|redacted|none|null|undefined|example)")


def is_placeholder(value: str, variable: str = "") -> bool:
    """True for a value that stands where a secret should be (``...``, ``<token>``,
    ``changeme``, ``TOKEN``, the variable's own name, ``$VAR`` unexpanded): never a secret
    anyone chose, and what a copied example line leaves behind."""
    text = value.strip()
    return bool(_PLACEHOLDER.fullmatch(text)) or (bool(variable) and text.lstrip("$") == variable)


def read_secret(args: argparse.Namespace, what: str) -> str | None:
    """A secret from ``--<what>-env VAR`` or ``--<what>-stdin``; never from the command line.
    A placeholder (:func:`is_placeholder`) is refused: stored, it would fail at the first mint."""
    env_name = getattr(args, f"{what}_env", None)
    if env_name:
        value = os.environ.get(env_name, "")
        if not value:
            raise BrokerError(f"--{what}-env: the environment variable {env_name} is empty or unset")
        where = f"--{what}-env: {env_name} holds"
    elif getattr(args, f"{what}_stdin", False):
        value = getpass.getpass(f"{what}: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
        if not value:
            raise BrokerError(f"--{what}-stdin: nothing was read from standard input")
        where = f"--{what}-stdin: standard input holds"
    else:
        return None
    if is_placeholder(value, env_name or ""):
        # A placeholder is no secret, but it is not echoed either: a long one may be a paste.
        shown = f" ({value.strip()!r})" if len(value.strip()) <= 24 else ""
        real = ("the user's API token (Jenkins: User > Security > API Token > Add new Token)"
                if what == "token" else "the Jenkins user's password")
        raise BrokerError(f"{where} a placeholder{shown}, not {'an API token' if what == 'token' else 'a password'}: "
                          f"put {real} there and run the command again")
    return value


def read_text(path: str, option: str) -> str:
    """The text of the file ``path`` given with ``option``; ``BrokerError`` naming both if it
    cannot be read."""
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"{option}: cannot read {path!r}: {getattr(exc, 'strerror', None) or exc}") from None


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """Vault-style ``key=value`` arguments as a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BrokerError(f"expected key=value, got {pair!r}")
        out[key] = value
    return out


# -- commands ----------------------------------------------------------------------

def cmd_config(args: argparse.Namespace) -> int:
    from ..domain.jenkins_config import build_config
    if args.action == "read":
        current = open_store().get_jenkins_config()
        if current is None:
            raise BrokerError("Jenkins is not configured: run `jenkins-broker config write --url ...`")
        emit(args, current.to_api())
        return 0
    data: dict[str, Any] = {"url": args.url, "kind": args.kind, "timeout": args.timeout}
    if args.ca_bundle:
        data["ca_bundle"] = read_text(args.ca_bundle, "--ca-bundle")
    if args.insecure:
        data["verify_tls"] = False
    build_config(data)  # what was given, checked before anything is asked of Vault
    store = open_store()
    config = build_config(data, store.get_jenkins_config())
    title = "Jenkins connection written (not checked: --no-check):"
    if not args.no_check:
        from .jenkins_probe import probe_jenkins
        title = f"Jenkins connection written ({config.url} answers as Jenkins {probe_jenkins(config)}):"
    store.put_jenkins_config(config)
    emit(args, config.to_api(), title=title)
    return 0


def _manage(args: argparse.Namespace, what: str, *, lister: Callable, getter: Callable,
            deleter: Callable, writer: Callable[[], Any], written_as: str = "written") -> int:
    """The list/read/delete/write pattern shared by ``credentials`` and ``roles``;
    ``written_as`` is what the title says of a write."""
    if args.action == "list":
        emit(args, lister())
    elif args.action == "read":
        found = getter(args.name)
        if found is None:
            raise BrokerError(f"no {what} named {args.name!r}")
        emit(args, found.to_api())
    elif args.action == "delete":
        deleter(args.name)
        emit(args, {"deleted": args.name})
    else:
        written = writer()
        emit(args, written if isinstance(written, dict) else written.to_api(),
             title=f"{what.capitalize()} {args.name} {written_as}:")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from ..domain.credentials import rotate, write_token_credential
    from ..domain.jenkins_config import build_credential
    from ..errors import VaultForbidden
    from ..jenkins.gateway import JenkinsGateway
    from .api import BrokerAPI
    if args.action == "rotate":
        if not args.name:
            raise BrokerError("credentials rotate needs the credential's name")
        api = BrokerAPI.from_env()
        if api is not None:  # through the broker, which reads the secret: admins cannot
            result = api.answer("POST", f"jenkins/rotate-credential/{args.name}")["data"]
        else:
            store = open_store()
            try:
                store.get_credential(args.name)
            except VaultForbidden:
                raise BrokerError(UNREADABLE_SECRET.format(name=args.name, what="rotate it")
                                  + ": set JENKINS_BROKER_ADDR to rotate it through the "
                                  "broker") from None
            result = rotate(store, JenkinsGateway(store), args.name)
        emit(args, result, title=f"Credential {args.name} rotated:")
        return 0
    # The secret is read and checked before Vault is asked anything.
    secrets = ((read_secret(args, "password"), read_secret(args, "token")) if args.action == "write"
               else (None, None))
    if getattr(args, "no_check", False) and secrets[1] is not None and not args.no_rotate:
        raise BrokerError("--no-check: a token is rotated when written (the broker mints its own "
                          "with it), which needs Jenkins: add --no-rotate to store it as given")
    store = open_store()

    def write():
        password, token = secrets
        credential = build_credential(args.name, {"username": args.username,
                                                  "password": password, "token": token})
        gateway = JenkinsGateway(store)
        if (credential.kind == "password" or args.no_rotate) and not args.no_check:
            # Stored as given: asked of Jenkins first (a token being rotated is, by rotating).
            accepted_by_jenkins(gateway, credential)
        result = write_token_credential(store, gateway, credential, rotate_it=not args.no_rotate)
        return {**store.get_credential_info(args.name).to_api(), **result}

    return _manage(args, "credential", lister=store.list_credentials,
                   getter=store.get_credential_info,
                   deleter=store.delete_credential, writer=write,
                   written_as="written (not checked: --no-check)" if args.no_check else "written")


def accepted_by_jenkins(gateway: Any, credential: Any) -> None:
    """Raise ``BrokerError`` unless Jenkins accepts ``credential`` as its user (``whoAmI``), so
    that a wrong, revoked or mistyped secret is refused now rather than at the first mint.
    Nothing is asked while Jenkins is not configured (the credential is bound to the Jenkins
    configured at its first use then)."""
    from dataclasses import replace

    from ..domain.jenkins_config import jenkins_origin
    from ..errors import ConfigError, JenkinsError

    try:
        origin = jenkins_origin(gateway.jenkins_url)
    except ConfigError:
        return
    what = credential.kind
    try:
        accepted = gateway.check_credential(replace(credential, origin=credential.origin or origin))
    except JenkinsError as exc:
        raise BrokerError(f"{what}: cannot ask Jenkins whether it accepts it: {exc} Retry once "
                          "Jenkins answers, or add --no-check to store it without asking.") from None
    if not accepted:
        raise BrokerError(f"{what}: Jenkins refuses it for user {credential.username!r} (401): check "
                          f"the user id and that the {what} is current")


def cmd_roles(args: argparse.Namespace) -> int:
    from ..domain.roles import build_role, require_stored_credential
    store = open_store()

    def write():
        fields = parse_pairs(args.fields)
        existing = store.get_role(args.name)
        role = build_role(args.name, fields, existing)
        require_stored_credential(role, fields, existing, store)
        store.put_role(role)
        return role

    return _manage(args, "role", lister=store.list_roles, getter=store.get_role,
                   deleter=store.delete_role, writer=write)


def cmd_mint(args: argparse.Namespace) -> int:
    from ..domain.records import Requester, rfc3339
    from ..durations import parse_duration
    ttl = parse_duration(args.ttl, field="--ttl") if args.ttl else None
    manager, _, gateway = open_manager()
    record, value = manager.mint(args.role, ttl=ttl,
                                 requester=Requester(display_name=f"cli:{getpass.getuser()}"))
    emit(args, {"lease_id": record.lease_id, "lease_duration": int(record.expires_at - record.issued_at),
                "username": record.jenkins_user, "token": value, "token_name": record.token_name,
                "jenkins_url": gateway.jenkins_url, "expires_at": rfc3339(record.expires_at)})
    return 0


def _lease_row(record: dict[str, Any]) -> dict[str, Any]:
    who = record.get("requester") or {}
    return {"lease_id": record["lease_id"], "user": record["jenkins_user"],
            "requester": who.get("display_name") or who.get("accessor", ""),
            "entity_id": who.get("entity_id", ""), "issued_at": record["issued_at"],
            "expires_at": record["expires_at"], "token_name": record["token_name"],
            "state": record.get("state", ""), "attempts": record.get("revoke_attempts", 0)}


def cmd_leases(args: argparse.Namespace) -> int:
    from ..domain.records import rfc3339
    from .api import BrokerAPI
    api = BrokerAPI.from_env()
    rows = []
    if api is not None:  # through the broker, with the caller's own Vault token
        roles = [args.role] if args.role else [
            k.rstrip("/") for k in ((api.call("LIST", "sys/leases/lookup/jenkins/creds") or {})
                                    .get("data", {}).get("keys", []))]
        for role in roles:
            rows += [_lease_row(r) for r in api.answer("GET", f"jenkins/leases/{role}")["data"]["leases"]]
    else:
        store = open_store()
        roles = [args.role] if args.role else store.list_lease_roles()
        for role in roles:
            for record, _ in store.get_leases((role, s) for s in store.list_leases(role)):
                row = record.to_record()
                row.update(lease_id=record.lease_id, issued_at=rfc3339(record.issued_at),
                           expires_at=rfc3339(record.expires_at), state=record.state(time.time()))
                rows.append(_lease_row(row))
    rows.sort(key=lambda r: r["expires_at"])
    emit_rows(args, rows, ["lease_id", "user", "requester", "expires_at", "state", "attempts"])
    return 0


def no_such_lease(lease_id: str) -> BrokerError:
    """What ``revoke`` of a lease that does not exist says (exit status 3, cli.EXIT_STATUS)."""
    from ..errors import LeaseNotFound
    return LeaseNotFound(f"no such lease {lease_id!r}: already revoked or expired, or a typo; "
                         "nothing was revoked (`jenkins-broker leases` lists the live ones)")


def cmd_revoke(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequest, LeaseNotFound
    from .api import BrokerAPI
    api = BrokerAPI.from_env()
    if api is not None:  # through the broker: auditors may revoke without Jenkins credentials
        if args.lease_id:
            # The broker answers 204 to revoking an unknown lease, as Vault does: look it up first
            # (Vault and the broker answer 400 for a lease they do not hold).
            if api.call("PUT", "sys/leases/lookup", {"lease_id": args.lease_id}, absent=(400,)) is None:
                raise no_such_lease(args.lease_id)
            api.call("PUT", "sys/leases/revoke", {"lease_id": args.lease_id})
            emit(args, {"lease_id": args.lease_id, "revoked": True})
        else:
            body = {"requester": args.requester} if args.requester else {}
            if args.suspend:
                body["suspend"] = True
            emit(args, api.answer("POST", f"jenkins/revoke/{args.role}", body)["data"])
        return 0
    manager, _, _ = open_manager()
    if args.lease_id:
        try:
            manager.lookup(args.lease_id)
        except (LeaseNotFound, InvalidRequest):
            raise no_such_lease(args.lease_id) from None
        done = manager.revoke(args.lease_id, cause="cli")
        emit(args, {"lease_id": args.lease_id, "revoked": done,
                    "note": "" if done else "another broker is revoking it right now"})
    elif args.suspend:
        emit(args, manager.suspend(args.role))
    else:
        emit(args, manager.revoke_many(args.role, requester=args.requester))
    return 0


def cmd_reap(args: argparse.Namespace) -> int:
    from ..domain.reaper import LeaseSchedule, Reaper
    from ..domain.reconcile import Reconciler
    manager, store, gateway = open_manager(LeaseSchedule())
    reaper = Reaper(manager, store)
    try:
        loaded = reaper.load()
        started = reaper.run_once(wait=True)
        result: dict[str, Any] = {"leases_loaded": loaded, "expired_processed": started,
                                  "still_live": reaper.live_count()}
        if args.reconcile:
            result["reconcile"] = Reconciler(store, gateway, metrics=manager.metrics,
                                             grace=args.grace).run()
    finally:
        reaper.stop()
    emit(args, result)
    return 0
