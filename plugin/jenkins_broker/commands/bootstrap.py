"""``jenkins-broker bootstrap``: make a Vault ready for the broker.

Runs with an administrator's Vault token (``VAULT_ADDR``, ``VAULT_TOKEN``):
creates the mounts, loads every policy in ``vault-policies/``, and an AppRole
for the broker whose role_id and secret_id it prints (or writes to a file
readable only by its owner). Run again, it keeps the secret_id the env file holds
(or, without one, issues none while the AppRole has one); ``--new-secret-id``
replaces it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError


def policies_dir(given: str | None = None) -> Path:
    """Where the ``.hcl`` policies are: ``given``, ``$JENKINS_BROKER_POLICIES_DIR``, the
    repository's ``vault-policies/`` (a checkout), or the copy a ``pip install`` puts in
    ``<prefix>/share/jenkins-broker/``. Raises ``ConfigError`` if none exists."""
    candidates = [given, os.environ.get("JENKINS_BROKER_POLICIES_DIR"),
                  str(Path(__file__).resolve().parents[3] / "vault-policies"),
                  str(Path(sys.prefix) / "share" / "jenkins-broker" / "vault-policies")]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise ConfigError("no policies directory found: pass --policies DIR or set "
                      "JENKINS_BROKER_POLICIES_DIR to the repository's vault-policies/")


def write_env_file(path: str, values: dict[str, str]) -> None:
    """Write ``export NAME='value'`` lines to ``path``, readable by the owner only (600).

    The file holds secrets (a secret_id, a root token): it is written to a temporary file
    in the same directory, made 600, then renamed over ``path``, so a reader never sees
    half of it and an existing file's looser mode is not kept. A symlink at ``path`` is
    refused rather than followed (it could point anywhere). Raises ``ConfigError``.
    """
    target = Path(path)
    if target.is_symlink():
        raise ConfigError(f"{path} is a symbolic link; refusing to write secrets through it "
                          "(remove it, or name the file it points to)")
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for name, value in values.items():
                out.write(f"export {name}='{value}'\n")
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def read_env_file(path: str) -> dict[str, str]:
    """The ``export NAME='value'`` lines of a file :func:`write_env_file` wrote; empty if there
    is no such file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"--env-file: cannot read {path}: {exc.strerror}") from None
    return dict(re.findall(r"^export (\w+)='([^'\n]*)'$", text, re.M))


def run_bootstrap(args: argparse.Namespace) -> int:
    from ..server.settings import BrokerSettings
    from ..vault.bootstrap import bootstrap
    from ..vault.login import admin_client, connect
    from ..vault.settings import VaultSettings
    from .output import emit

    settings = BrokerSettings.from_env()
    vault_settings = VaultSettings.from_env()
    # The secret_id the broker was given last time, kept if it still works (one per AppRole).
    # ("": the env file holds none, so it gets a new one.)
    held = read_env_file(args.env_file).get("JENKINS_BROKER_VAULT_SECRET_ID", "") if args.env_file else None
    broker_client, _ = connect(vault_settings)  # logs in with the configured method
    broker_client.close()
    client = admin_client(vault_settings, broker_client.token)
    result = bootstrap(client, policies_dir=policies_dir(args.policies),
                       kv1_mount=settings.shared_mount, kv2_mount=settings.kv_mount,
                       secret_id=held, new_secret_id=args.new_secret_id)
    env = {"VAULT_ADDR": vault_settings.addr, "JENKINS_BROKER_VAULT_AUTH": "approle",
           "JENKINS_BROKER_VAULT_ROLE_ID": result.role_id}
    if result.secret_id:
        env["JENKINS_BROKER_VAULT_SECRET_ID"] = result.secret_id
    if args.env_file and result.secret_id:
        write_env_file(args.env_file, env)
    if args.json:
        data = result.as_dict(include_secret=not args.env_file)
        if args.env_file:
            data["env_file"] = args.env_file
        emit(args, data)
        return 0
    for line in result.lines():
        print(line)
    print()
    if not result.secret_id:
        print("The broker's AppRole has its secret_id already (none was issued, nor is one printed): "
              "start the broker with the one it was given, or run bootstrap again with "
              "--new-secret-id to issue a new one (the old one is destroyed)"
              + (f"; {args.env_file} was left as it was" if args.env_file else "") + ".")
        for name, value in env.items():
            print(f"export {name}='{value}'")
    elif args.env_file:
        print(f"The broker's AppRole settings are in {args.env_file} (mode 600); "
              f"start it with: . {args.env_file} && jenkins-broker serve")
    else:
        print("Start the broker with these settings (keep the secret_id secret):")
        for name, value in env.items():
            print(f"export {name}='{value}'")
    return 0
