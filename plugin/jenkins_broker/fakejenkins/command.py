"""The ``jenkins-broker fake-jenkins`` command: serve a fake Jenkins until interrupted.

Wire it into a sub-parser with :func:`add_arguments` and call :func:`run`::

    sub = subparsers.add_parser("fake-jenkins", help=HELP, description=DESCRIPTION)
    add_arguments(sub)
    ...
    return run(args)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeJenkins
from .state import FakeUser
from .versions import parse_version

HELP = "serve a fake Jenkins (a test double, not Jenkins)"

DESCRIPTION = (
    "Serve a fake Jenkins: a test double that answers Jenkins' HTTP API for API tokens, "
    "CSRF crumbs, sessions and identity as the emulated Jenkins version would "
    "(docs/jenkins-behaviour.md §15, in jenkins-broker's source tree). It is not Jenkins "
    "and has no jobs. Its script console (/scriptText, /script) runs Groovy 2.4 for real, in "
    "one JVM per fake, against Jenkins-shaped classes backed by its users and tokens "
    "(docs/fake-jenkins-groovy.md; it needs Groovy 2.4 and Java: apt-get install groovy). "
    "State lives in memory "
    "and is lost on exit. Prints the URL once ready (then the tokens --token asks for) and "
    "serves until SIGINT or SIGTERM."
)


def _user(spec: str) -> FakeUser:
    try:
        return FakeUser.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version(text: str) -> str:
    try:
        parse_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


EPILOG = (
    "This is a test double, not Jenkins: no jobs, no plugins; its script console knows only "
    "the Jenkins classes that API tokens need (docs/fake-jenkins-groovy.md, "
    "docs/jenkins-behaviour.md §4.10)."
)


def _token(spec: str) -> tuple[str, str]:
    user, _, name = spec.partition(":")
    if not user:
        raise argparse.ArgumentTypeError(f"expected USER or USER:NAME, got {spec!r}")
    return user, name or SEEDED_TOKEN_NAME


SEEDED_TOKEN_NAME = "seeded by fake-jenkins --token"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fake-jenkins options to ``parser``; give it DESCRIPTION if it has none, and
    an epilog saying what it is not."""
    if not parser.description:
        parser.description = DESCRIPTION
    if not parser.epilog and "Groovy" not in parser.description:
        parser.epilog = EPILOG
    parser.add_argument("--port", type=int, default=8080,
                        help="TCP port to listen on; 0 picks a free one (default: 8080)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--user", dest="users", action="append", type=_user, required=True,
                        metavar="NAME:PASSWORD[:admin]",
                        help="a Jenkins user; ':admin' grants Overall/Administer. Repeatable.")
    parser.add_argument("--jenkins-version", default="2.555.1", type=_version,
                        metavar="VERSION",
                        help="the Jenkins version to emulate, X.Y or X.Y.Z (default: 2.555.1)")
    parser.add_argument("--admin-can-generate-new-tokens", action="store_true",
                        help="as -Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens"
                             "=true: admins may mint tokens for other users")
    parser.add_argument("--creation-of-legacy-token-enabled", action="store_true",
                        help="let changeToken create a legacy token for users without one")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="N",
                        help="milliseconds added to every request (default: 0)")
    parser.add_argument("--tls-cert", default="", metavar="PEM",
                        help="serve HTTPS with this certificate chain (PEM; may hold the key)")
    parser.add_argument("--tls-key", default="", metavar="PEM",
                        help="the private key of --tls-cert (PEM), if not in that file")
    parser.add_argument("--token", dest="tokens", action="append", type=_token, default=[],
                        metavar="USER[:NAME]",
                        help="create an API token for USER (one of --user) at start, named NAME "
                             f"(default: {SEEDED_TOKEN_NAME!r}), and print it once on stdout as "
                             "USER:TOKEN, on the line after the URL (usable as curl -u); it is "
                             "never logged. Repeatable: one line each, in order.")


def run(args: argparse.Namespace) -> int:
    """Start the fake, print its URL (then one ``USER:TOKEN`` line per ``--token``), serve until
    SIGINT/SIGTERM, stop; returns 0 (2 for a ``--token`` of a user not given)."""
    names = {user.name for user in args.users}
    for user, name in getattr(args, "tokens", []):
        if user not in names:
            print(f"fake-jenkins: --token {user}:{name}: no user {user!r}; give it with "
                  f"--user {user}:PASSWORD", file=sys.stderr)
            return 2
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        fake = FakeJenkins(
            users=args.users, version=args.jenkins_version,
            admin_can_generate_new_tokens=args.admin_can_generate_new_tokens,
            creation_of_legacy_token_enabled=args.creation_of_legacy_token_enabled,
            latency=max(0.0, args.latency_ms) / 1000.0, host=args.host, port=args.port,
            tls_cert=getattr(args, "tls_cert", ""), tls_key=getattr(args, "tls_key", ""))
        with fake:
            print(fake.url, flush=True)
            for user, name in getattr(args, "tokens", []):
                _, value = fake.add_token(user, name=name)
                print(f"{user}:{value}", flush=True)  # stdout only: nothing logs it
            while not stop.wait(1.0):
                pass
    except (OSError, ValueError) as exc:
        print(f"fake-jenkins: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
