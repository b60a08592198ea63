"""Rotating a token credential: the broker's own token replaces the one it was given.

An administrator hands the broker a Jenkins API token (often copied through a
shell, a ticket or a chat). The broker uses it once, to mint a token of its own
(:func:`mint_own_token`), keeps that one, and revokes the given one, so the only
live copy of the credential is the one in Vault and the broker knows its uuid
(reconciliation must tell its own credential from a token nobody accounts for).

Revoking the given token needs its uuid, and Jenkins never says which token
authenticated a request. Its usage statistics do (docs/jenkins-behaviour.md §8,
on by default): every token login counts one use of that token, and the user's token
list shows each token's usage. :func:`token_in_use` lists the tokens twice with
the credential: between the two listings the usage shown changes for the
credential's own token (the second listing is one more use of it) and for any
token someone else used meanwhile; repeating narrows that to one.
"""

from __future__ import annotations

from ..errors import JenkinsOperationFailed
from .listing import list_tokens_by_page
from .models import Credential, MintedToken


def mint_own_token(client, credential: Credential, name: str) -> MintedToken:
    """Mint a token named ``name`` for the credential's own user with the credential, with
    no Jenkins-side expiry (it is a credential, not a lease), and check that it logs in.

    ``POST …/generateNewToken`` then ``GET /whoAmI/api/json``. Raises
    :class:`~jenkins_broker.errors.JenkinsOperationFailed` when the new token does not log
    in as the user (it is revoked again first), and the client's mapped errors.
    """
    user = credential.username
    data = client.generate_new_token(credential, user, name, None)
    minted = MintedToken(user=user, uuid=data["tokenUuid"], name=str(data.get("tokenName") or name),
                         value=data["tokenValue"])
    if not client.verify_token(user, minted.value):
        client.revoke_token(credential, user, minted.uuid)
        raise JenkinsOperationFailed(
            f"Jenkins at {client.url} made token {minted.name!r} for {user!r}, but it does not log "
            f"in as {user!r}; it was revoked and the credential was left as it was.",
            url=client.url, user=user)
    return minted


def token_in_use(client, credential: Credential, rounds: int = 3) -> str | None:
    """The uuid of the token ``credential`` logs in with, or None when Jenkins cannot tell
    (usage statistics off, or other logins kept it ambiguous for ``rounds`` tries).

    ``GET /user/{user}/security/`` (or ``/configure``) ``rounds + 1`` times at most.
    Raises the client's mapped errors.
    """
    def usage() -> dict[str, str]:
        return {t.uuid: t.last_used_text or "" for t in
                list_tokens_by_page(client, credential, credential.username)}

    before = usage()
    candidates: set[str] | None = None
    for _ in range(rounds):
        after = usage()
        changed = {uuid for uuid, used in after.items() if uuid in before and before[uuid] != used}
        candidates = changed if candidates is None else candidates & changed
        if len(candidates) <= 1:
            return next(iter(candidates), None)
        before = after
    return None
