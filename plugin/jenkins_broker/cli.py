"""The ``jenkins-broker`` command line.

Administrative commands talk to Vault directly with the operator's own Vault
token (``VAULT_ADDR``, ``VAULT_TOKEN``, as the Vault CLI reads them), so they
work whether or not a broker is running. ``leases`` and ``revoke`` go through a
running broker's API instead when ``JENKINS_BROKER_ADDR`` is set: that is how
an auditor, who may not read Jenkins credentials, kills tokens. Every command prints readable text,
or JSON with ``--json``; errors go to stderr with exit status 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable

from . import __version__
from .errors import BrokerError, redact

log = logging.getLogger("jenkins_broker")


# -- output ----------------------------------------------------------------------

def emit(args: argparse.Namespace, data: Any, *, title: str | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or as an aligned key/value table."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if title:
        print(title)
    if isinstance(data, dict):
        if not data:
            print("(nothing)")
            return
        width = max(len(str(k)) for k in data)
        print(f"{'Key':<{width}}    Value")
        print(f"{'---':<{width}}    -----")
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, sort_keys=True, default=str)
            print(f"{key:<{width}}    {value}")
    elif isinstance(data, list):
        if not data:
            print("(none)")
        for item in data:
            print(item)
    else:
        print(data)


def emit_rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print a list of records as a table (or JSON)."""
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    if not rows:
        print("(none)")
        return
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


# -- plumbing --------------------------------------------------------------------

def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def open_store():
    """The Vault store, logged in with the environment's Vault settings."""
    from .config import BrokerSettings
    from .vault.connection import connect
    from .vault.settings import VaultSettings
    from .vault.store import VaultStore

    settings = BrokerSettings.from_env()
    client, _ = connect(VaultSettings.from_env())
    return VaultStore(client, kv_mount=settings.kv_mount, shared_mount=settings.shared_mount,
                      cache_seconds=0)


def open_manager():
    """A lease manager over the environment's Vault and the Jenkins stored in it."""
    from .gateway import JenkinsGateway
    from .leases import LeaseManager

    store = open_store()
    gateway = JenkinsGateway(store)
    return LeaseManager(store, gateway), store, gateway


def wait_for_signal() -> int:
    """Block until SIGINT or SIGTERM; return the signal number."""
    got: list[int] = []
    done = threading.Event()

    def handler(signum, _frame):
        got.append(signum)
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    while not done.wait(1.0):
        pass
    return got[0]


def read_secret(args: argparse.Namespace, what: str) -> str | None:
    """A secret from ``--<what>-env VAR`` or ``--<what>-stdin``; never from the command line."""
    env_name = getattr(args, f"{what}_env", None)
    if env_name:
        value = os.environ.get(env_name, "")
        if not value:
            raise BrokerError(f"--{what}-env: the environment variable {env_name} is empty or unset")
        return value
    if getattr(args, f"{what}_stdin", False):
        value = getpass.getpass(f"{what}: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
        if not value:
            raise BrokerError(f"--{what}-stdin: nothing was read from standard input")
        return value
    return None


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

def cmd_serve(args: argparse.Namespace) -> int:
    from .config import BrokerSettings
    from .server import HTTPServer
    from .service import build_services
    from .vault.settings import VaultSettings
    from .web import create_app

    settings = BrokerSettings.from_env()
    setup_logging(settings.log_level)
    services = build_services(settings, VaultSettings.from_env())
    services.start()
    server = HTTPServer(create_app(services), settings.host, settings.port, threads=settings.threads,
                        tls_cert=settings.tls_cert, tls_key=settings.tls_key).start()
    log.info("jenkins-broker %s serving on %s; loading the lease records in the background",
             __version__, server.url)
    try:
        wait_for_signal()
    finally:
        log.info("stopping")
        server.stop()
        services.stop()
    return 0


def cmd_fake_jenkins(args: argparse.Namespace) -> int:
    from .fakejenkins.command import run
    return run(args)


def cmd_plugin(args: argparse.Namespace) -> int:
    if getattr(args, "plugin_missing", False):
        raise BrokerError("plugin mode needs the plugin extra: pip install 'jenkins-broker[plugin]'")
    from .vaultplugin.command import run
    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(args)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .bootstrap import run_bootstrap
    return run_bootstrap(args)


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check
    return run_check(args)


def cmd_config(args: argparse.Namespace) -> int:
    from .connection import build_config
    store = open_store()
    if args.action == "read":
        current = store.get_jenkins_config()
        if current is None:
            raise BrokerError("Jenkins is not configured: run `jenkins-broker config write --url ...`")
        emit(args, current.to_api())
        return 0
    data: dict[str, Any] = {"url": args.url, "kind": args.kind, "timeout": args.timeout}
    if args.ca_bundle:
        with open(args.ca_bundle, encoding="ascii") as fh:
            data["ca_bundle"] = fh.read()
    if args.insecure:
        data["verify_tls"] = False
    config = build_config(data, store.get_jenkins_config())
    store.put_jenkins_config(config)
    emit(args, config.to_api(), title="Jenkins connection written:")
    return 0


def _manage(args: argparse.Namespace, what: str, *, lister: Callable, getter: Callable,
            deleter: Callable, writer: Callable[[], Any]) -> int:
    """The list/read/delete/write pattern shared by ``credentials`` and ``roles``."""
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
        emit(args, written.to_api(), title=f"{what.capitalize()} {args.name} written:")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from .connection import build_credential
    store = open_store()

    def write():
        password, token = read_secret(args, "password"), read_secret(args, "token")
        credential = build_credential(args.name, {"username": args.username,
                                                  "password": password, "token": token})
        store.put_credential(credential)
        return credential

    return _manage(args, "credential", lister=store.list_credentials, getter=store.get_credential,
                   deleter=store.delete_credential, writer=write)


def cmd_roles(args: argparse.Namespace) -> int:
    from .roles import build_role
    store = open_store()

    def write():
        role = build_role(args.name, parse_pairs(args.fields), store.get_role(args.name))
        store.put_role(role)
        return role

    return _manage(args, "role", lister=store.list_roles, getter=store.get_role,
                   deleter=store.delete_role, writer=write)


def cmd_mint(args: argparse.Namespace) -> int:
    from .durations import parse_duration
    from .records import Requester, rfc3339
    manager, _, gateway = open_manager()
    ttl = parse_duration(args.ttl, field="--ttl") if args.ttl else None
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
            "attempts": record.get("revoke_attempts", 0)}


def cmd_leases(args: argparse.Namespace) -> int:
    from .apiclient import BrokerAPI
    from .records import rfc3339
    api = BrokerAPI.from_env()
    rows = []
    if api is not None:  # through the broker, with the caller's own Vault token
        roles = [args.role] if args.role else [
            k.rstrip("/") for k in ((api.call("LIST", "sys/leases/lookup/jenkins/creds") or {})
                                    .get("data", {}).get("keys", []))]
        for role in roles:
            rows += [_lease_row(r) for r in api.call("GET", f"jenkins/leases/{role}")["data"]["leases"]]
    else:
        store = open_store()
        roles = [args.role] if args.role else store.list_lease_roles()
        for role in roles:
            for record, _ in store.get_leases((role, s) for s in store.list_leases(role)):
                row = record.to_record()
                row.update(lease_id=record.lease_id, issued_at=rfc3339(record.issued_at),
                           expires_at=rfc3339(record.expires_at))
                rows.append(_lease_row(row))
    rows.sort(key=lambda r: r["expires_at"])
    emit_rows(args, rows, ["lease_id", "user", "requester", "expires_at", "attempts"])
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from .apiclient import BrokerAPI
    api = BrokerAPI.from_env()
    if api is not None:  # through the broker: auditors may revoke without Jenkins credentials
        if args.lease_id:
            api.call("PUT", "sys/leases/revoke", {"lease_id": args.lease_id})
            emit(args, {"lease_id": args.lease_id, "revoked": True})
        else:
            body = {"requester": args.requester} if args.requester else {}
            emit(args, api.call("POST", f"jenkins/revoke/{args.role}", body)["data"])
        return 0
    manager, _, _ = open_manager()
    if args.lease_id:
        done = manager.revoke(args.lease_id, cause="cli")
        emit(args, {"lease_id": args.lease_id, "revoked": done,
                    "note": "" if done else "no such lease (already revoked or expired)"})
    else:
        emit(args, manager.revoke_many(args.role, requester=args.requester))
    return 0


def cmd_reap(args: argparse.Namespace) -> int:
    from .reaper import Reaper
    from .reconcile import Reconciler
    manager, store, gateway = open_manager()
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


# -- the parser --------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jenkins-broker",
        description="Short-lived Jenkins API tokens, leased through Vault / OpenBao.")
    parser.add_argument("--version", action="version", version=f"jenkins-broker {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable, help_text: str, **kw) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common], **kw)
        p.set_defaults(func=func)
        return p

    add("serve", cmd_serve, "run the broker (settings from the environment; see the README)")

    p = add("demo", cmd_demo, "start OpenBao, a fake Jenkins and the broker on loopback, "
                              "with a ci-bot role; print the export lines")
    p.add_argument("--env-file", default="jenkins-broker-demo.env",
                   help="also write the export lines here (default: %(default)s)")
    p.add_argument("--ttl", default="15m", help="ttl of the ci-bot role (default: %(default)s)")

    p = sub.add_parser("fake-jenkins", help="run the Jenkins test double",
                       description="Serve a fake Jenkins whose token API, crumbs, sessions and "
                                   "errors behave like Jenkins' own (see jenkins-api.md), for "
                                   "demos and tests.")
    from .fakejenkins.command import add_arguments
    add_arguments(p)
    p.set_defaults(func=cmd_fake_jenkins)

    p = sub.add_parser("plugin", help="the OpenBao/Vault secrets-engine plugin: build it, or run as it",
                       description="Plugin mode: `plugin build [--output DIR]` writes the engine as "
                                   "one file and prints the commands that register it; `plugin "
                                   "serve` is what that file runs under OpenBao/Vault.")
    try:
        from .vaultplugin.command import add_arguments as add_plugin_arguments
        add_plugin_arguments(p)
    except ImportError:  # the plugin extra (grpclib, protobuf, ecdsa) is not installed
        p.set_defaults(plugin_missing=True)
    p.set_defaults(func=cmd_plugin)

    p = add("bootstrap", cmd_bootstrap, "create the Vault mounts, load vault-policies/, and an "
                                        "AppRole for the broker (needs an admin VAULT_TOKEN)")
    p.add_argument("--policies", help="directory of .hcl policies (default: the bundled ones)")
    p.add_argument("--env-file", help="write the broker's AppRole settings here (mode 600)")

    add("check", cmd_check, "check Vault, the mounts, Jenkins and every role's credential")

    p = add("config", cmd_config, "read or write the Jenkins connection")
    p.add_argument("action", choices=["read", "write"])
    p.add_argument("--url", help="Jenkins root URL")
    p.add_argument("--kind", choices=["jenkins", "cloudbees-operations-center", "cloudbees-controller"])
    p.add_argument("--timeout", type=float, help="seconds per Jenkins call (default 10)")
    p.add_argument("--ca-bundle", help="PEM file of CAs to trust for Jenkins' certificate")
    p.add_argument("--insecure", action="store_true", help="do not verify Jenkins' certificate")

    p = add("credentials", cmd_credentials, "manage stored Jenkins credentials")
    p.add_argument("action", choices=["list", "read", "write", "delete"])
    p.add_argument("name", nargs="?")
    p.add_argument("--username", help="the Jenkins user this credential logs in as")
    for what in ("password", "token"):
        p.add_argument(f"--{what}-env", metavar="VAR", help=f"read the {what} from this environment variable")
        p.add_argument(f"--{what}-stdin", action="store_true", help=f"read the {what} from standard input")

    p = add("roles", cmd_roles, "manage roles (write takes key=value fields, as Vault does)")
    p.add_argument("action", choices=["list", "read", "write", "delete"])
    p.add_argument("name", nargs="?")
    p.add_argument("fields", nargs="*", metavar="KEY=VALUE",
                   help="jenkins_user, strategy, credential, ttl, max_ttl, shared, rotation_period, "
                        "max_live_tokens, token_name_prefix, description")

    p = add("mint", cmd_mint, "mint a token for a role now (prints the token)")
    p.add_argument("role")
    p.add_argument("--ttl", help="lease ttl, e.g. 10m (capped at the role's max_ttl)")

    p = add("leases", cmd_leases, "list live leases: who asked, and when each dies")
    p.add_argument("role", nargs="?", help="only this role")

    p = add("revoke", cmd_revoke, "revoke one lease, or every lease of a role (the incident button)")
    p.add_argument("lease_id", nargs="?")
    p.add_argument("--role", help="revoke every lease of this role")
    p.add_argument("--requester", help="with --role: only leases of this accessor, entity id or name")

    p = add("reap", cmd_reap, "revoke every expired lease now (one reaper pass)")
    p.add_argument("--reconcile", action="store_true", help="also revoke orphaned broker tokens")
    p.add_argument("--grace", type=float, default=60.0,
                   help="with --reconcile: seconds before an unrecorded token counts as orphaned")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    needs_name = {"credentials": ("read", "write", "delete"), "roles": ("read", "write", "delete")}
    if args.command in needs_name and args.action in needs_name[args.command] and not args.name:
        parser.error(f"{args.command} {args.action} needs a name")
    if args.command == "config" and args.action == "write" and not args.url:
        parser.error("config write needs --url")
    if args.command == "credentials" and args.action == "write" and not args.username:
        parser.error("credentials write needs --username")
    if args.command == "revoke" and bool(args.lease_id) == bool(args.role):
        parser.error("revoke needs a lease id or --role (not both)")
    if args.command not in ("serve", "demo", "fake-jenkins", "plugin"):
        setup_logging("WARNING")
    try:
        return args.func(args) or 0
    except BrokerError as exc:
        print(f"Error: {redact(str(exc), limit=2000)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
