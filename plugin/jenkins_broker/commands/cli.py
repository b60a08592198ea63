"""The ``jenkins-broker`` command line: the parser, ``serve``, and dispatch.

The administrative commands (config, credentials, roles, mint, leases, revoke,
reap) live in :mod:`jenkins_broker.commands.admin`; demo, bootstrap, check, fake-jenkins
and plugin in their own modules. Every command prints readable text, or JSON
with ``--json``; a failure is one line on stderr and an exit status (:data:`EXIT_STATUS`).
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable

from .. import __version__
from ..errors import BrokerError, ConfigError, LeaseNotFound, VaultUnavailable, redact
from ..server.runtime import FailureLog, setup_logging
from ..values import JENKINS_KINDS
from .admin import cmd_config, cmd_credentials, cmd_leases, cmd_mint, cmd_reap, cmd_revoke, cmd_roles

if TYPE_CHECKING:
    from ..server.runtime import StartingApp, StopSignals
    from ..server.services import Services
    from ..server.settings import BrokerSettings
    from ..vault.settings import VaultSettings

log = logging.getLogger("jenkins_broker")

#: The command line's error table: every failure is one line on stderr (``Error: ...``,
#: redacted, no traceback) and the exit status here; the first match wins. It differs from
#: the HTTP API's and the engine's tables on purpose: a command has one caller, the person or
#: script that ran it, who acts on "it failed" and reads the line for why; a status per cause
#: would be one more vocabulary to learn. So every failure is 1; a usage mistake is 2,
#: argparse's (before anything runs); an interrupt is 130, as shells report SIGINT. One
#: exception: 3 for "no such lease" from ``revoke LEASE_ID``, so that a script revoking a
#: list of leases in an incident can tell "already gone" (or a typo) from "could not revoke".
EXIT_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (KeyboardInterrupt, 130),
    (LeaseNotFound, 3),  # revoke LEASE_ID: no such lease (already gone, or a typo); nothing done
    (BrokerError, 1),   # ours: the message names the setting, field or system
    (ValueError, 1),    # a value the command parsed itself (a duration such as --ttl abc)
    (OSError, 1),       # a file it could not read (--ca-bundle /missing)
)
#: Anything else is a bug: one line too ("unexpected ..."), the traceback logged at DEBUG.
UNEXPECTED = 1
#: What each exit status means, for ``--help`` (and anyone reading this table).
EXIT_MEANINGS = {
    0: "done",
    1: "failed; the one line on stderr says why and what to do",
    2: "a usage mistake (the command's usage is printed)",
    3: "revoke LEASE_ID: no such lease (already revoked or expired, or a typo); nothing was revoked",
    130: "interrupted (Ctrl-C)",
}


# -- commands ----------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from ..server.httpd import HTTPServer
    from ..server.runtime import StartingApp, StopSignals
    from ..server.settings import BrokerSettings
    from ..vault.settings import VaultSettings
    from ..web import create_app

    settings = BrokerSettings.from_env()
    setup_logging(settings.log_level)
    vault_settings = VaultSettings.from_env()
    signals = StopSignals()
    # Listen first: a busy port is said at once, and while Vault cannot be reached (down,
    # sealed: a pod started during an outage) the process is up, answers 503 and tries again,
    # instead of exiting into a supervisor's back-off.
    front = StartingApp()
    try:
        server = HTTPServer(front, settings.host, settings.port, threads=settings.threads,
                            tls_cert=settings.tls_cert, tls_key=settings.tls_key,
                            request_deadline=settings.request_deadline, idle_timeout=settings.idle_timeout,
                            spare_threads=settings.spare_threads).start()
    except OSError as exc:
        raise cannot_listen(exc, settings.host, settings.port) from None
    services = None
    try:
        services = _log_in_to_vault(settings, vault_settings, front, signals)
        if services is None:
            return 0  # stopped while waiting for Vault
        services.start()
        front.ready(create_app(services))
        log.info("jenkins-broker %s serving on %s; loading the lease records in the background",
                 __version__, server.url)
        signals.wait()
    finally:
        log.info("stopping")
        server.stop()
        if services is not None:
            services.stop()
    return 0


def _log_in_to_vault(settings: BrokerSettings, vault_settings: VaultSettings, front: StartingApp,
                     signals: StopSignals) -> Services | None:
    """Build the broker's services, which logs in to Vault; while Vault cannot be reached
    or is sealed (``VaultUnavailable``), try again with backoff, logging as a background loop
    does. Any other failure (a refused login, a bad setting) is raised: waiting cannot fix it.
    Returns None if a signal came first."""
    from ..server.services import build_services

    failures = FailureLog(log, f"logging in to Vault at {vault_settings.addr}")
    while True:
        try:
            services = build_services(settings, vault_settings)
        except VaultUnavailable as exc:
            front.failed(str(exc))
            if signals.wait(failures.failed(exc)):
                return None
            continue
        failures.succeeded()
        return services


def cannot_listen(exc: OSError, host: str, port: int) -> ConfigError:
    """What ``serve`` says when it cannot listen where JENKINS_BROKER_LISTEN says. cheroot
    reports the socket error inside its own text ("No socket could be created -- ...")."""
    text = str(exc)
    if exc.errno == errno.EADDRINUSE or "Address already in use" in text:
        return ConfigError(f"port {port} on {host} is in use (another broker, or another program, "
                           "listens there): stop it, or set JENKINS_BROKER_LISTEN to a free host:port")
    if exc.errno == errno.EACCES or "Permission denied" in text:
        return ConfigError(f"not allowed to listen on port {port} of {host} (ports below 1024 need "
                           "privileges): set JENKINS_BROKER_LISTEN to a port above 1023")
    if exc.errno == errno.EADDRNOTAVAIL or "Cannot assign requested address" in text:
        return ConfigError(f"{host} is not an address of this machine: set JENKINS_BROKER_LISTEN "
                           "to one of its addresses (or 0.0.0.0), with a port")
    return ConfigError(f"cannot listen on {host}:{port} ({redact(text)}): check JENKINS_BROKER_LISTEN")


def cmd_fake_jenkins(args: argparse.Namespace) -> int:
    from ..fakejenkins.command import run
    return run(args)


#: The modules of pyproject.toml's ``plugin`` extra (import name -> distribution), which plugin
#: mode needs and a plain ``pip install jenkins-broker`` does not bring.
PLUGIN_EXTRA = {"grpclib": "grpclib", "google.protobuf": "protobuf", "ecdsa": "ecdsa"}


def _missing_plugin_extra() -> list[str]:
    """The distributions of the plugin extra that cannot be imported here."""
    missing = []
    for module, dist in PLUGIN_EXTRA.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing (google), or half there
            found = False
        if not found:
            missing.append(dist)
    return missing


def cmd_plugin(args: argparse.Namespace) -> int:
    missing = _missing_plugin_extra()
    if missing or getattr(args, "plugin_missing", False):
        raise BrokerError(f"plugin mode needs the plugin extra, which is not installed here "
                          f"(missing: {', '.join(missing) or 'part of it'}): pip install "
                          f"'jenkins-broker[plugin]' into the environment jenkins-broker runs "
                          f"from ({sys.prefix})")
    from ..vaultplugin.command import run
    try:
        return run(args)
    except RuntimeError as exc:  # build: a dependency or the interpreter cannot be used
        raise BrokerError(f"plugin {args.plugin_command}: {exc}") from None


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(args)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .bootstrap import run_bootstrap
    return run_bootstrap(args)


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check
    return run_check(args)


# -- the parser --------------------------------------------------------------------

Add = Callable[..., argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    """The command line: the commands that run something, those that set the broker up,
    and those that act on leases, in that order in ``--help``."""
    parser = argparse.ArgumentParser(
        prog="jenkins-broker",
        description="Short-lived Jenkins API tokens, leased through Vault / OpenBao.",
        epilog="Run `jenkins-broker COMMAND --help` for what a command takes.\n\nExit status:\n"
               + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_MEANINGS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"jenkins-broker {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable, help_text: str, **kw) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common], **kw)
        p.set_defaults(func=func)
        return p

    _add_running_commands(sub, add)
    _add_setup_commands(add)
    _add_lease_commands(add)
    return parser


def _add_running_commands(sub: Any, add: Add) -> None:
    """serve, demo, fake-jenkins, plugin."""
    from .usage import serve_epilog
    add("serve", cmd_serve, "run the broker (settings from the environment, listed below)",
        epilog=serve_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)

    p = add("demo", cmd_demo, "start OpenBao, a fake Jenkins and the broker on loopback, "
                              "with a ci-bot role; print the export lines")
    p.add_argument("--env-file", default="jenkins-broker-demo.env",
                   help="also write the export lines here (default: %(default)s)")
    p.add_argument("--ttl", default="15m", help="ttl of the ci-bot role (default: %(default)s)")

    from ..fakejenkins.command import DESCRIPTION, add_arguments
    p = sub.add_parser("fake-jenkins", help="run the Jenkins test double",
                       description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=cmd_fake_jenkins)

    p = sub.add_parser("plugin", help="the OpenBao/Vault secrets-engine plugin: build it, or run as it",
                       description="Plugin mode: `plugin build [--output DIR]` writes the engine as "
                                   "one file and prints the commands that register it; `plugin "
                                   "serve` is what that file runs under OpenBao/Vault.")
    try:
        from ..vaultplugin.command import add_arguments as add_plugin_arguments
        add_plugin_arguments(p)
    except ImportError:  # the plugin extra (grpclib, protobuf, ecdsa) is not installed
        p.set_defaults(plugin_missing=True)
    p.set_defaults(func=cmd_plugin)


def _add_setup_commands(add: Add) -> None:
    """bootstrap, check, config, credentials, roles."""
    p = add("bootstrap", cmd_bootstrap, "create the Vault mounts, load vault-policies/, and an "
                                        "AppRole for the broker (needs an admin VAULT_TOKEN)")
    p.add_argument("--policies", help="directory of .hcl policies (default: the bundled ones)")
    p.add_argument("--env-file", help="write the broker's AppRole settings here (mode 600); run "
                                      "again, the secret_id it holds is kept while it works")
    p.add_argument("--new-secret-id", action="store_true",
                   help="issue a new secret_id for the broker's AppRole and destroy the others "
                        "(by default one is issued only when the AppRole has none, or the "
                        "--env-file's no longer works)")

    add("check", cmd_check, "check Vault, the mounts, Jenkins (that it answers as Jenkins) and every "
                            "role's credential (that it logs in, and can mint for the role's "
                            "jenkins_user with the role's strategy)")

    p = add("config", cmd_config, "read or write the Jenkins connection")
    p.add_argument("action", choices=["read", "write"], help="read the stored connection, or write it")
    p.add_argument("--url", help="Jenkins root URL")
    p.add_argument("--kind", choices=JENKINS_KINDS,
                   help="what answers at the URL: jenkins (the default), the Operations Center of "
                        "CloudBees CI (cloudbees-operations-center), or a CloudBees CI controller "
                        "(cloudbees-controller: refused for minting, the Operations Center would "
                        "overwrite its tokens; point the broker at the Operations Center)")
    p.add_argument("--timeout", type=float, help="seconds per Jenkins call (default 10)")
    p.add_argument("--ca-bundle", help="PEM file of CAs to trust for Jenkins' certificate")
    p.add_argument("--insecure", action="store_true", help="do not verify Jenkins' certificate")
    p.add_argument("--no-check", action="store_true",
                   help="write: store the URL without asking it first (by default it must answer "
                        "as Jenkins does, with an X-Jenkins header; use this when Jenkins is not "
                        "up yet)")

    p = add("credentials", cmd_credentials,
            "manage stored Jenkins credentials (a token is rotated when written: the broker "
            "mints its own with it and revokes it). Secrets are written, never read back; "
            "`rotate` goes through the broker when JENKINS_BROKER_ADDR is set")
    p.add_argument("action", choices=["list", "read", "write", "delete", "rotate"],
                   help="what to do; all but list need NAME")
    p.add_argument("name", nargs="?", help="the credential's name (roles refer to it)")
    p.add_argument("--username", help="the Jenkins user this credential logs in as")
    p.add_argument("--no-rotate", action="store_true",
                   help="store a token as given (the broker cannot then tell it from a foreign token)")
    p.add_argument("--no-check", action="store_true",
                   help="store a password, or a token with --no-rotate, without asking Jenkins "
                        "whether it accepts it (Jenkins is not up yet, say); `check` asks later")
    for what in ("password", "token"):
        p.add_argument(f"--{what}-env", metavar="VAR", help=f"read the {what} from this environment variable")
        p.add_argument(f"--{what}-stdin", action="store_true", help=f"read the {what} from standard input")

    p = add("roles", cmd_roles, "manage roles (write takes key=value fields, as Vault does)")
    p.add_argument("action", choices=["list", "read", "write", "delete"],
                   help="what to do; all but list need NAME")
    p.add_argument("name", nargs="?", help="the role's name (read jenkins/creds/NAME mints for it)")
    p.add_argument("fields", nargs="*", metavar="KEY=VALUE",
                   help="jenkins_user, strategy, credential, ttl, max_ttl, shared, rotation_period, "
                        "max_live_tokens, token_name_prefix, description, disabled, foreign_tokens")


def _add_lease_commands(add: Add) -> None:
    """mint, leases, revoke, reap."""
    p = add("mint", cmd_mint, "mint a token for a role now (prints the token)")
    p.add_argument("role", help="the role to mint for")
    p.add_argument("--ttl", help="lease ttl, e.g. 10m (capped at the role's max_ttl)")

    p = add("leases", cmd_leases, "list live leases: who asked, and when each dies")
    p.add_argument("role", nargs="?", help="only this role")

    p = add("revoke", cmd_revoke, "revoke one lease, or every lease of a role (the incident button)")
    p.add_argument("lease_id", nargs="?", help="the lease to revoke (jenkins/creds/ROLE/ID)")
    p.add_argument("--role", help="revoke every lease of this role")
    p.add_argument("--requester", help="with --role: only leases of this accessor, entity id or name")
    p.add_argument("--suspend", action="store_true",
                   help="with --role: also suspend the role (disabled=true: no mints, no shared value) "
                        "until `roles write ROLE disabled=false`")

    p = add("reap", cmd_reap, "revoke every expired lease now (one reaper pass)")
    p.add_argument("--reconcile", action="store_true", help="also revoke orphaned broker tokens")
    p.add_argument("--grace", type=float, default=60.0,
                   help="with --reconcile: seconds before an unrecorded token counts as orphaned")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line parsed and checked; a mistake exits 2 with the usage of the command
    it was made in (``config``'s, not the top level's), and no command at all with the full
    help, which lists the commands."""
    from .usage import innermost

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        parser.exit(2)
    args, unknown = parser.parse_known_args(argv)
    usage = innermost(parser, args)
    if unknown:
        usage.error(f"unrecognized arguments: {' '.join(unknown)}")
    needs_name = {"credentials": ("read", "write", "delete", "rotate"), "roles": ("read", "write", "delete")}
    if args.command in needs_name and args.action in needs_name[args.command] and not args.name:
        usage.error(f"{args.command} {args.action} needs a name")
    if args.command == "config" and args.action == "write" and not args.url:
        usage.error("config write needs --url")
    if args.command == "credentials" and args.action == "write" and not args.username:
        usage.error("credentials write needs --username")
    if args.command == "revoke" and bool(args.lease_id) == bool(args.role):
        usage.error("revoke needs a lease id or --role (not both)")
    if args.command == "revoke" and args.suspend and (args.requester or not args.role):
        usage.error("--suspend goes with --role, without --requester")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command not in ("serve", "demo", "fake-jenkins", "plugin"):
        setup_logging("WARNING")
    try:
        return args.func(args) or 0
    except BaseException as exc:
        status = next((code for cls, code in EXIT_STATUS if isinstance(exc, cls)), None)
        if status is None and not isinstance(exc, Exception):
            raise  # SystemExit and the like: already an exit
        if not isinstance(exc, KeyboardInterrupt):
            print(f"Error: {failure(exc, expected=status is not None)}", file=sys.stderr)
        return UNEXPECTED if status is None else status


def failure(exc: BaseException, *, expected: bool = True) -> str:
    """The one line that says why a command failed: no token value, no traceback."""
    text = redact(str(exc), limit=2000) or type(exc).__name__  # redact also joins the lines
    if expected:
        return text
    log.debug("unexpected failure", exc_info=exc)
    return f"unexpected {type(exc).__name__}: {text} (a bug in jenkins-broker; please report it)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
