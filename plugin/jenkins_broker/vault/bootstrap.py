"""Preparing a Vault for the broker, idempotently, with an administrator's client.

:func:`bootstrap` enables the two KV mounts, loads the policies from
``vault-policies/``, enables AppRole auth and (re)writes the broker's role,
then returns the role_id and the broker's one secret_id. Running it again changes
nothing that is as it should be: a secret_id is issued only when the role has none,
when the one the operator holds no longer works, or when asked, and a new one
replaces the others (see :func:`_secret_id`). :func:`create_token` issues a token
with given policies, e.g. the demo's CI token.

Both need an administrator's token (root, or sudo on ``sys/``); the broker's
own policy deliberately cannot do any of this.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import hvac

from jenkins_broker.errors import ConfigError, VaultNotFound, VaultUnavailable
from jenkins_broker.values import is_name
from jenkins_broker.vault.kv import check_path
from jenkins_broker.vault.translate import KV_UPGRADING, vault_call


@dataclasses.dataclass
class BootstrapResult:
    """What :func:`bootstrap` found and did; ``lines()`` is for the CLI."""

    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    destroyed: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    role_id: str = ""
    secret_id: str = dataclasses.field(default="", repr=False)
    secret_id_accessor: str = ""

    def lines(self) -> list[str]:
        """Human-readable lines, secret_id excluded."""
        out = [f"created    {item}" for item in self.created]
        out += [f"updated    {item}" for item in self.updated]
        out += [f"unchanged  {item}" for item in self.unchanged]
        out += [f"destroyed  {item}" for item in self.destroyed]
        out += [f"warning    {item}" for item in self.warnings]
        return out

    def as_dict(self, *, include_secret: bool = False) -> dict:
        """For ``--json``; the secret_id only when asked for."""
        data = dataclasses.asdict(self)
        if not include_secret:
            data.pop("secret_id")
        return data


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    """A token made by :func:`create_token`; the value is hidden from repr."""

    token: str = dataclasses.field(repr=False)
    accessor: str
    policies: tuple[str, ...]
    ttl: int


def _check_name(value: str, what: str) -> str:
    # Mount, policy and AppRole names follow the project's one name rule.
    if not is_name(value):
        raise ConfigError(f"{what} must be letters, digits, '.', '_' or '-', not {value!r}")
    return value


def _kv_version(mount: dict) -> str | None:
    if mount.get("type") == "generic":
        return "1"
    if mount.get("type") != "kv":
        return None
    return str((mount.get("options") or {}).get("version") or "1")


def _ensure_kv_mount(client: hvac.Client, path: str, version: str, mounts: dict,
                     result: BootstrapResult) -> None:
    label = f"mount {path}/ (KV v{version})"
    existing = mounts.get(f"{path}/")
    if existing is not None:
        found = _kv_version(existing)
        if found != version:
            kind = f"KV v{found}" if found else f"a {existing.get('type')!r} engine"
            raise ConfigError(
                f"Vault at {client.url} already has {kind} mounted at '{path}/', but the broker "
                f"needs KV v{version} there: choose another mount path or disable that mount "
                f"(bao secrets disable {path}) if nothing uses it")
        result.unchanged.append(label)
        return
    with _admin_call(client, f"sys/mounts/{path}", f"enable {label}", "create and update"):
        client.sys.enable_secrets_engine(
            "kv", path=path, options={"version": version},
            description="jenkins-broker: " + ("shared Jenkins credentials" if version == "1"
                                              else "broker state (config, roles, leases)"))
    if version == "2":
        wait_until_kv2_serves(client, path)
    result.created.append(label)


def wait_until_kv2_serves(client: hvac.Client, path: str, timeout: float = 30.0) -> None:
    """Return once the KV v2 mount at ``path`` serves requests.

    Enabling the mount returns at once, but Vault and OpenBao then run its upgrade in the
    background; until it ends, every request to the mount is refused (400 "Upgrading from
    non-versioned to versioned data"), a few milliseconds on an idle server, longer on a
    busy one. Bootstrap waits here so that what comes next (``config write``, a broker
    starting) finds the mount ready. Polls ``LIST <path>/metadata`` until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    api = f"{path}/metadata"
    while True:
        try:
            with _admin_call(client, api, "list", "list"):
                client.adapter.list(f"/v1/{api}")
            return
        except VaultNotFound:
            return  # an empty mount answers 404 to a list: it serves
        except VaultUnavailable as exc:
            if KV_UPGRADING not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _load_policies(client: hvac.Client, policies_dir: Path, result: BootstrapResult) -> set[str]:
    if not policies_dir.is_dir():
        raise ConfigError(f"policies directory {str(policies_dir)!r} does not exist")
    loaded = set()
    for file in sorted(policies_dir.glob("*.hcl")):
        name = _check_name(file.stem, f"the policy file name {file.name!r}")
        text = file.read_text(encoding="utf-8")
        api = f"sys/policies/acl/{name}"
        with _admin_call(client, api, f"read policy {name}", "read"):
            try:
                current = client.sys.read_acl_policy(name)["data"]["policy"]
            except hvac.exceptions.InvalidPath:
                current = None
        if current == text:
            result.unchanged.append(f"policy {name} ({file.name})")
        else:
            with _admin_call(client, api, f"write policy {name} from {file}", "create and update"):
                client.sys.create_or_update_acl_policy(name, text)
            (result.created if current is None else result.updated).append(
                f"policy {name} ({file.name})")
        loaded.add(name)
    return loaded


def bootstrap(client: hvac.Client, *, policies_dir: str | Path | None,
              kv1_mount: str | None = "jenkins", kv2_mount: str = "jenkins-broker",
              approle_mount: str = "approle", role_name: str = "jenkins-broker",
              policy_name: str = "jenkins-broker", token_ttl: str = "1h",
              token_max_ttl: str = "24h", secret_id_ttl: str = "0", secret_id: str | None = None,
              new_secret_id: bool = False) -> BootstrapResult:
    """Make Vault ready for the broker; safe to run again.

    1. ``kv1_mount`` as KV v1 (skipped if None, e.g. when the plugin is mounted
       there) and ``kv2_mount`` as KV v2 (``GET sys/mounts``, ``POST sys/mounts/<path>``).
    2. Every ``*.hcl`` in ``policies_dir`` as a policy named after the file stem
       (``PUT sys/policies/acl/<name>``, only when the text changed).
    3. AppRole auth at ``approle_mount`` (``POST sys/auth/<mount>``) and the role
       ``role_name`` with ``policy_name``, ``token_ttl``, ``token_max_ttl`` and
       ``secret_id_ttl`` (``"0"``: secret_ids do not expire).
    4. The role_id, and the broker's one secret_id: ``secret_id`` (the one the operator
       holds; "" if the file meant to hold it has none) kept if it still works; a new one
       issued if the role has none, if ``secret_id`` is "" or no longer works, or if
       ``new_secret_id``; a new one replaces (destroys) the others. Otherwise (``secret_id``
       None and the role has one) none is issued and ``result.secret_id`` is empty.

    Raises ConfigError if a mount path is taken by an engine of another kind or
    the policies directory is missing, and VaultError subclasses (VaultForbidden
    when the client is not an administrator) for Vault failures.
    """
    result = BootstrapResult()
    _check_name(role_name, "the AppRole role name")
    _check_name(policy_name, "the broker's policy name")
    with _admin_call(client, "sys/mounts", "list secrets engines", "read"):
        mounts = client.sys.list_mounted_secrets_engines()["data"]
    if kv1_mount:
        _ensure_kv_mount(client, check_path(kv1_mount), "1", mounts, result)
    _ensure_kv_mount(client, check_path(kv2_mount), "2", mounts, result)

    loaded = _load_policies(client, Path(policies_dir), result) if policies_dir else set()
    if policy_name not in loaded and not _policy_exists(client, policy_name):
        result.warnings.append(
            f"policy {policy_name} does not exist (no {policy_name}.hcl in "
            f"{policies_dir}); tokens of role {role_name} will have no rights")

    approle_mount = check_path(approle_mount)
    _ensure_approle_auth(client, approle_mount, result)
    _write_approle_role(client, approle_mount, role_name, result, policy_name=policy_name,
                        token_ttl=token_ttl, token_max_ttl=token_max_ttl,
                        secret_id_ttl=secret_id_ttl)
    _secret_id(client, approle_mount, role_name, result, given=secret_id, new=new_secret_id)
    return result


def _policy_exists(client: hvac.Client, name: str) -> bool:
    with _admin_call(client, f"sys/policies/acl/{name}", f"read policy {name}", "read"):
        try:
            client.sys.read_acl_policy(name)
        except hvac.exceptions.InvalidPath:
            return False
    return True


def _ensure_approle_auth(client: hvac.Client, mount: str, result: BootstrapResult) -> None:
    """AppRole auth at ``mount``: enabled if nothing is there, refused if another method is."""
    with _admin_call(client, "sys/auth", "list auth methods", "read"):
        auths = client.sys.list_auth_methods()["data"]
    existing = auths.get(f"{mount}/")
    label = f"auth method {mount}/ (approle)"
    if existing is None:
        with _admin_call(client, f"sys/auth/{mount}", f"enable {label}", "create, update and sudo"):
            client.sys.enable_auth_method("approle", path=mount,
                                          description="jenkins-broker login")
        result.created.append(label)
    elif existing.get("type") != "approle":
        raise ConfigError(f"Vault at {client.url} has a {existing.get('type')!r} auth method at "
                          f"'{mount}/', not AppRole: choose another AppRole mount path")
    else:
        result.unchanged.append(label)


def _write_approle_role(client: hvac.Client, mount: str, role_name: str, result: BootstrapResult,
                        *, policy_name: str, token_ttl: str, token_max_ttl: str,
                        secret_id_ttl: str) -> None:
    """(Re)write the broker's AppRole role; it is reported as updated if it existed."""
    role_api = f"auth/{mount}/role/{role_name}"
    with _admin_call(client, role_api, f"read AppRole role {role_name}", "read"):
        try:
            client.auth.approle.read_role(role_name, mount_point=mount)
            role_existed = True
        except hvac.exceptions.InvalidPath:
            role_existed = False
    with _admin_call(client, role_api, f"write AppRole role {role_name}", "create and update"):
        client.auth.approle.create_or_update_approle(
            role_name, mount_point=mount, token_policies=[policy_name],
            token_ttl=token_ttl, token_max_ttl=token_max_ttl, secret_id_ttl=secret_id_ttl,
            token_type="service")
    role_label = (f"AppRole role {role_name} (policy {policy_name}, token_ttl {token_ttl}, "
                  f"token_max_ttl {token_max_ttl}, secret_id_ttl {secret_id_ttl})")
    (result.updated if role_existed else result.created).append(role_label)


def _secret_id(client: hvac.Client, mount: str, role_name: str, result: BootstrapResult, *,
               given: str | None, new: bool) -> None:
    """Read the role_id; keep the broker's secret_id or issue one, into ``result``.

    The broker's AppRole is meant to have one secret_id (it never expires: the broker logs in
    with it again at every token max TTL, unattended). So a new one is issued only when the
    role has none, when ``given`` (the one the operator holds, from the env file; "" when the
    env file holds none) no longer works, or when ``new`` asks for it; and a new one replaces
    the others, which are destroyed
    (a broker started with one of them must be given the new one). Otherwise nothing is
    issued: ``result.secret_id`` is ``given`` when it still works, else empty.
    """
    role_api = f"auth/{mount}/role/{role_name}"
    with _admin_call(client, f"{role_api}/role-id", "read the role_id", "read"):
        result.role_id = client.auth.approle.read_role_id(
            role_name, mount_point=mount)["data"]["role_id"]
    with _admin_call(client, f"{role_api}/secret-id", "list the secret_id accessors", "list"):
        try:
            live = list(client.auth.approle.list_secret_id_accessors(
                role_name, mount_point=mount)["data"]["keys"])
        except hvac.exceptions.InvalidPath:
            live = []
    held = _lookup_secret_id(client, mount, role_name, given) if given and not new else None
    if held is not None:
        result.secret_id, result.secret_id_accessor = given or "", held
        result.unchanged.append(f"secret_id for {role_name} (accessor {held}, the one given)")
        return
    if live and not new and given is None:
        result.secret_id_accessor = live[0] if len(live) == 1 else ""
        result.unchanged.append(
            f"secret_id for {role_name} ({len(live)} live: {', '.join(live)}); none issued: give the "
            "broker the one it has, or run again with --new-secret-id to replace it")
        return
    with _admin_call(client, f"{role_api}/secret-id", "issue a secret_id", "update"):
        data = client.auth.approle.generate_secret_id(role_name, mount_point=mount)["data"]
    result.secret_id = data["secret_id"]
    result.secret_id_accessor = data.get("secret_id_accessor") or ""
    result.created.append(f"secret_id for {role_name} (accessor {result.secret_id_accessor})")
    for accessor in live:
        with _admin_call(client, f"{role_api}/secret-id-accessor/destroy",
                         f"destroy secret_id accessor {accessor}", "update"):
            client.auth.approle.destroy_secret_id_accessor(role_name, accessor, mount_point=mount)
        result.destroyed.append(f"secret_id accessor {accessor} (a broker started with it must "
                                "be given the new one)")


def _lookup_secret_id(client: hvac.Client, mount: str, role_name: str, secret_id: str) -> str | None:
    """The accessor of ``secret_id`` if it is a live secret_id of the role, else None."""
    api = f"auth/{mount}/role/{role_name}/secret-id/lookup"
    with _admin_call(client, api, "look up the secret_id given", "update"):
        try:
            found = client.auth.approle.read_secret_id(role_name, secret_id, mount_point=mount)
        except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
            return None
    data = found.get("data") if isinstance(found, dict) else None  # 204: no such secret_id
    return (data or {}).get("secret_id_accessor") or None


def _admin_call(client: hvac.Client, path: str, action: str, needs: str):
    """:func:`vault_call` for bootstrap's own calls: a refusal blames the administrator's token
    bootstrap was given, and says that it ``needs`` those capabilities on ``path``."""
    return vault_call(addr=client.url, path=path, action=action, kind="admin",
                      hint=f"it needs {needs} on {path}")


def create_token(client: hvac.Client, policies: list[str], *, ttl: str = "24h",
                 display_name: str = "jenkins-broker", renewable: bool = True,
                 orphan: bool = True) -> IssuedToken:
    """Issue a token with ``policies`` (e.g. the demo's CI token holding one consumer policy).

    ``POST auth/token/create`` (``create-orphan`` when ``orphan``, so the token
    outlives the administrator's). Raises VaultForbidden if the client may not
    create tokens. The policies need not exist yet.
    """
    path = "auth/token/create-orphan" if orphan else "auth/token/create"
    create = client.auth.token.create_orphan if orphan else client.auth.token.create
    with vault_call(addr=client.url, path=path, action="create a token"):
        auth = create(policies=list(policies), ttl=ttl, display_name=display_name,
                      renewable=renewable)["auth"]
    return IssuedToken(token=auth["client_token"], accessor=auth.get("accessor") or "",
                       policies=tuple(auth.get("policies") or ()),
                       ttl=int(auth.get("lease_duration") or 0))

