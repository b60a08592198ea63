"""``jenkins-broker plugin ...``: build the plugin file, or run as the plugin.

::

    jenkins-broker plugin build [--output DIR] [--python PATH] [--name NAME]
    jenkins-broker plugin serve          (what the built file runs; OpenBao starts it)

The wiring in cli.py is ``add_arguments(parser)`` on the ``plugin`` sub-parser
and ``run(args)`` as its function. :func:`main_plugin` is the plugin's entry
point: it refuses, with exit status 1 and before importing anything heavy, a
process that OpenBao did not start as a backend plugin.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .handshake import HandshakeRefused, check_environment

LOG_LEVEL_VARIABLE = "JENKINS_BROKER_PLUGIN_LOG_LEVEL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``build`` and ``serve`` to the ``plugin`` sub-parser."""
    sub = parser.add_subparsers(dest="plugin_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="write the secrets-engine plugin as one file and print "
                                         "the commands that register it",
                           description="Write the secrets-engine plugin as one executable file (a "
                                       "zip application holding jenkins-broker and its pure-Python "
                                       "dependencies), so that the SHA-256 in the plugin catalog "
                                       "covers the code that runs; print its SHA-256 and the bao "
                                       "and vault commands that register and enable it.")
    build.add_argument("--output", default=".", metavar="DIR",
                       help="directory to write into, usually OpenBao's plugin_directory "
                            "(default: the current directory)")
    build.add_argument("--python", metavar="PATH",
                       help="the Python 3.10+ interpreter that runs the plugin on the OpenBao host "
                            "(default: the one running this build)")
    build.add_argument("--name", default="jenkins-broker-plugin",
                       help="file name, which is also the -command of the registration "
                            "(default: %(default)s)")
    build.add_argument("--mount-name", default="jenkins",
                       help="catalog name in the printed commands (default: %(default)s)")
    sub.add_parser("serve", help="run as the plugin (OpenBao starts the built file, which does this)",
                   description="Run as the secrets-engine plugin: what the file `jenkins-broker plugin "
                               "build` writes runs, when OpenBao or Vault starts it for the mount. It "
                               "refuses to run (exit status 1) unless OpenBao or Vault started it, with "
                               "the plugin handshake in its environment; not a command to run by hand.")


def run(args: argparse.Namespace) -> int:
    """Run ``plugin build`` or ``plugin serve``; returns the exit status."""
    if args.plugin_command == "serve":
        return main_plugin()
    from .build import build_plugin
    result = build_plugin(args.output, python=args.python, name=args.name)
    print(result.instructions(catalog_name=args.mount_name))
    return 0


def main_plugin(env: dict[str, str] | None = None) -> int:
    """The plugin process: check the handshake environment, then serve until stopped."""
    environment = os.environ if env is None else env
    try:
        plugin_env = check_environment(environment)
    except HandshakeRefused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    import asyncio

    from .grpcserver import serve
    from .stdio import setup_logging
    level = getattr(logging, str(environment.get(LOG_LEVEL_VARIABLE, "INFO")).upper(), logging.INFO)
    setup_logging(level)
    return asyncio.run(serve(plugin_env))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_plugin())
