"""What the command line says about itself: the usage of the command a mistake was made in,
and the environment ``serve`` reads, generated from the settings so that it cannot drift.

``serve --help`` lists every ``JENKINS_BROKER_*`` variable of
:class:`~jenkins_broker.server.settings.BrokerSettings` (from the ``# [JENKINS_BROKER_X] what``
comment beside each field, with the field's default) and every variable of
:data:`~jenkins_broker.vault.settings.ENV_NAMES` (described by the table in that module's
docstring). ``tests/test_cli_usage.py`` checks that every one appears.
"""

from __future__ import annotations

import argparse
import inspect
import re
import textwrap

from ..server.settings import PREFIX, BrokerSettings
from ..vault import settings as vault_settings

#: Read by VaultSettings.from_env beside the variables of ENV_NAMES (which maps fields).
EXTRA_VAULT_VARIABLES = {
    "JENKINS_BROKER_VAULT_SECRET_ID_FILE": "a file holding the AppRole secret_id (instead of "
                                           "JENKINS_BROKER_VAULT_SECRET_ID)",
}
#: Read by the outgoing HTTP of both Vault and Jenkins (jenkins_broker/transport.py).
PROXY_VARIABLES = {"HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY": "proxies for Vault and Jenkins"}

_SETTING = re.compile(r"^\s+(\w+):[^=#]*=[^#]*#\s*\[(" + PREFIX + r"\w+)\]\s*(.*)$")
_VAULT_ROW = re.compile(r"^((?:``[^`]+``(?:\s*/\s*)?)+)\s+(.*)$")


def innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)parser of the command ``args`` were parsed for (``plugin build``'s, say): the
    one whose usage a mistake on that command should show."""
    current = parser
    while True:
        sub = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, sub.dest, None) if sub is not None else None
        if sub is None or sub.choices is None or name not in sub.choices:
            return current
        current = sub.choices[name]


def broker_variables() -> dict[str, str]:
    """``JENKINS_BROKER_X`` -> "what it is (default ...)", for every field of BrokerSettings."""
    defaults = BrokerSettings()
    found = {}
    for line in inspect.getsource(BrokerSettings).splitlines():
        match = _SETTING.match(line)
        if match is None:
            continue
        field, variable, what = match.groups()
        value = getattr(defaults, field)
        shown = ("unset" if value == "" else str(value).lower() if isinstance(value, bool)
                 else f"{value:g}" if isinstance(value, float) else str(value))
        found[variable] = f"{what or field.replace('_', ' ')} (default {shown})"
    return found


def vault_variables() -> dict[str, str]:
    """Every variable of ENV_NAMES (and the secret_id file) -> what it is, from the table in
    :mod:`jenkins_broker.vault.settings`' docstring (a ``/ ``_KEY`` `` cell names the
    variable ending so beside the one before it)."""
    rows = []
    for line in (vault_settings.__doc__ or "").splitlines():
        match = _VAULT_ROW.match(line)
        if match:
            rows.append((re.findall(r"``([^`]+)``", match.group(1)), match.group(2).replace("``", "")))
    found = {}
    for variable in vault_settings.ENV_NAMES.values():
        what = next((text for names, text in rows if variable in names), None) or next(
            (text for names, text in rows
             if any(n.startswith("_") and variable.endswith(n) for n in names)), None)
        field = next(f for f, v in vault_settings.ENV_NAMES.items() if v == variable)
        found[variable] = what or field.replace("_", " ")
    found.update(EXTRA_VAULT_VARIABLES)
    return found


def _table(rows: dict[str, str], width: int = 100) -> list[str]:
    column = max(len(name) for name in rows) + 2
    lines = []
    for name, what in rows.items():
        wrapped = textwrap.wrap(what, width - column - 2) or [""]
        lines.append(f"  {name.ljust(column)}{wrapped[0]}")
        lines += [" " * (column + 2) + more for more in wrapped[1:]]
    return lines


def serve_epilog() -> str:
    """The environment ``serve`` reads, for its ``--help``."""
    return "\n".join([
        "The broker's own settings:", *_table(broker_variables()), "",
        "How it reaches Vault and logs in (the VAULT_* ones are the Vault CLI's):",
        *_table(vault_variables()), "", *_table(PROXY_VARIABLES), "",
        "The Jenkins connection, credentials and roles are not settings: they are stored in "
        "Vault\n(`jenkins-broker config write`, `credentials write`, `roles write`)."])
