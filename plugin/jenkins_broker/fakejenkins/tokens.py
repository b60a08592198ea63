"""The ApiTokenProperty descriptor's web methods, below ``/user/{id}/descriptorByName/``.

``jenkins.security.ApiTokenProperty`` (or its short name ``ApiTokenProperty``)
then ``generateNewToken`` (§4.1), ``revoke`` (§4.2), ``revokeAll`` (§4.3),
``revokeAllExcept`` (§4.4), ``rename`` (§4.5), ``addFixedToken`` (§4.6) and
``changeToken`` (§4.7) of docs/jenkins-behaviour.md. All are ``@RequirePOST``; a
method the emulated version lacks is a 404. None of these responses carries ``X-Jenkins``.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from werkzeug.wrappers import Response

from .exchange import ADMINISTER, Answer, Exchange
from .state import UserRecord, iso_offset_now, short_date

DESCRIPTOR_NAMES = ("jenkins.security.ApiTokenProperty", "ApiTokenProperty")

_INT = re.compile(r"^[+-]?\d+$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

CHANGE_SUCCESS = "<div>Updated. See the new token in the field above</div>"
CHANGE_SUCCESS_HIDDEN = "<div>Updated. You need to login as the user to see the token</div>"
CHANGE_NOT_ALLOWED = ("<div>Capability to generate a legacy token without an existing one "
                      "is currently disabled in the security configuration</div>")


def java_hashmap_order(data: dict) -> dict:
    """``data`` re-ordered as a 16-bucket java.util.HashMap iterates it.

    Jenkins builds the ``data`` object from a HashMap (§4.0: its key order is not
    defined); giving the real order keeps clients from depending on ours.
    """
    def bucket(key: str) -> int:
        h = 0
        for unit in key.encode("utf-16-be").hex(" ", 2).split():
            h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & 15

    return dict(sorted(data.items(), key=lambda item: bucket(item[0])))


def ok_json(ex: Exchange, data: dict | None = None) -> Response:
    body = {"status": "ok"} if data is None else {"status": "ok", "data": java_hashmap_order(data)}
    return ex.json_envelope(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def error_json(ex: Exchange, message: str) -> Response:
    return ex.json_envelope(json.dumps({"status": "error", "message": message},
                                       ensure_ascii=False, separators=(",", ":")))


def _given(value: str | None) -> str | None:
    """The parameter, or None if it is missing or blank."""
    return None if value is None or not value.strip() else value


def _java_trim(value: str) -> str:
    return value.strip("".join(chr(c) for c in range(33)))


def may_generate(ex: Exchange, record: UserRecord) -> bool:
    """hasCurrentUserRightToGenerateNewToken: the owner, or an admin with the property (§9)."""
    if ex.state.admin_can_generate_new_tokens and ex.auth.admin:
        return True
    return not ex.auth.anonymous and ex.state.same_user(ex.auth.name, record.id)


def require_control(ex: Exchange, record: UserRecord) -> None:
    """``user.checkPermission(ADMINISTER)``: the owner or an admin, else 403 (§4.2)."""
    if ex.auth.admin or (not ex.auth.anonymous and ex.state.same_user(ex.auth.name, record.id)):
        return
    raise Answer(ex.access_denied(ADMINISTER))


def expiration_date(ex: Exchange) -> dt.date | None:
    """getExpirationDate (§4.1); malformed input is an uncaught exception, so 500."""
    duration = _java_trim(ex.param("expirationDuration") or "")
    if duration in ("", "never"):
        return None
    today = ex.state.today()
    try:
        if duration == "custom":
            found = _ISO_DATE.match(ex.param("tokenExpiration") or "")
            if not found:
                raise ValueError("DateTimeParseException")
            return dt.date(int(found[1]), int(found[2]), int(found[3]))
        if not _INT.match(duration) or not -2**31 <= int(duration) < 2**31:
            raise ValueError("NumberFormatException")
        return today + dt.timedelta(days=int(duration))
    except (ValueError, OverflowError):
        raise Answer(ex.oops(500)) from None


def default_name() -> str:
    return f"Token created on {iso_offset_now()}"


def generate_new_token(ex: Exchange, record: UserRecord) -> Response:
    """POST generateNewToken (§4.1): a new ``11`` + 32-hex token for the owner."""
    if not may_generate(ex, record):
        return ex.empty(403)
    name = _given(ex.param("newTokenName")) or default_name()
    if not ex.state.features.expiry:
        token, value = ex.state.generate_token(record, name)
        return ok_json(ex, {"tokenUuid": token.uuid, "tokenName": name, "tokenValue": value})
    expires = expiration_date(ex)
    if expires is not None and ex.state.today() > expires:
        return error_json(ex, "Expiration date is in the past.")
    token, value = ex.state.generate_token(record, name, expires)
    return ok_json(ex, {"tokenUuid": token.uuid, "tokenName": name, "tokenValue": value,
                        "expirationDate": "never" if expires is None else short_date(expires),
                        "aboutToExpire": ex.state.about_to_expire(token)})


def add_fixed_token(ex: Exchange, record: UserRecord) -> Response:
    """POST addFixedToken (§4.6): store a caller-chosen value; a bad value is a 500."""
    if not may_generate(ex, record):
        return ex.empty(403)
    name = _given(ex.param("newTokenName")) or default_name()
    expires = expiration_date(ex) if ex.state.features.expiry else None
    try:
        token = ex.state.add_fixed_token(record, name, ex.param("newTokenPlainValue"), expires)
    except ValueError:
        return ex.oops(500)
    return ok_json(ex, {"tokenUuid": token.uuid, "tokenName": name})


def revoke(ex: Exchange, record: UserRecord) -> Response:
    """POST revoke (§4.2): 200 and an empty body, known uuid or not."""
    require_control(ex, record)
    token_uuid = _given(ex.param("tokenUuid"))
    if token_uuid is None:
        return ex.container(400, "The tokenUuid cannot be empty")
    ex.state.revoke(record, token_uuid)
    return ex.empty(200)


def revoke_all(ex: Exchange, record: UserRecord) -> Response:
    """POST revokeAll (§4.3): every token goes; the legacy secret stays."""
    require_control(ex, record)
    ex.state.revoke_all(record)
    return ex.empty(200)


def revoke_all_except(ex: Exchange, record: UserRecord) -> Response:
    """POST revokeAllExcept (§4.4): an unknown uuid removes every token."""
    require_control(ex, record)
    token_uuid = _given(ex.param("tokenUuid"))
    if token_uuid is None:
        return ex.container(400, "The tokenUuid cannot be empty")
    ex.state.revoke_all(record, except_uuid=token_uuid)
    return ex.empty(200)


def rename(ex: Exchange, record: UserRecord) -> Response:
    """POST rename (§4.5): all-200 JSON since 2.505; empty 200 and a 400 before."""
    require_control(ex, record)
    envelope = ex.state.features.new_markup
    new_name, token_uuid = _given(ex.param("newName")), _given(ex.param("tokenUuid"))
    if new_name is None:
        return error_json(ex, "The name cannot be empty")
    if token_uuid is None:
        if envelope:
            return error_json(ex, "The tokenUuid cannot be empty")
        return ex.container(400, "The tokenUuid cannot be empty")
    if not ex.state.rename(record, token_uuid, new_name):
        return error_json(ex, "No token found, try refreshing the page")
    return ok_json(ex) if envelope else ex.empty(200)


def change_token(ex: Exchange, record: UserRecord) -> Response:
    """POST changeToken (§4.7): rotate the legacy token; the value travels in a header."""
    require_control(ex, record)
    state = ex.state
    if (state.features.new_tokens and record.legacy_secret is None
            and not state.creation_of_legacy_token_enabled):
        return ex.html(CHANGE_NOT_ALLOWED)
    value = state.change_legacy(record)
    may_see = ((state.show_token_to_admins and ex.auth.admin)
               or (not ex.auth.anonymous and state.same_user(ex.auth.name, record.id)))
    response = ex.html(CHANGE_SUCCESS if may_see else CHANGE_SUCCESS_HIDDEN)
    if state.features.callback_header:
        # Since 2.540 the header carries the unmasked value whoever asked (§4.7).
        response.headers["X-Jenkins-ValidateButton-Callback"] = json.dumps(
            {"callback": "changeTokenCallback", "arguments": [value]}, separators=(",", ":"))
    else:
        shown = value if may_see else "Token is hidden"
        response.headers["script"] = f"document.getElementById('apiToken').value='{shown}'"
    return response


def revoke_all_selected(ex: Exchange, rest: list[str]) -> Response:
    """POST /administrativeMonitor/legacyApiToken/revokeAllSelected (§4.11), admin only.

    Body ``{"values": [{"userId": ..., "uuid": ...}]}``; always 200 and empty. Each
    revoked token, legacy or not, also clears its owner's legacy secret.
    """
    if not ex.auth.admin:                     # AdministrativeMonitor.getTarget
        return ex.access_denied(ADMINISTER)
    if rest[:1] != ["revokeAllSelected"] or rest[1:] not in ([], [""]):
        return ex.not_found()
    if ex.req.method != "POST":
        return ex.require_post()
    try:
        values = json.loads(ex.req.get_data(as_text=True))["values"]
        pairs = [(v.get("userId"), v.get("uuid")) for v in values]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ex.oops(500)                   # @JsonBody could not bind the body
    for user_id, token_uuid in pairs:
        record = ex.state.find_user("null" if user_id is None else str(user_id), full_name=False)
        if record is not None and isinstance(token_uuid, str):
            if ex.state.revoke(record, token_uuid, clear_legacy=False) is not None:
                record.legacy_secret = None
    return ex.empty(200)


def _methods(features) -> dict:
    methods = {"changeToken": change_token}
    if features.new_tokens:
        methods.update(generateNewToken=generate_new_token, revoke=revoke, rename=rename)
    if features.revoke_all:
        methods.update(revokeAll=revoke_all, revokeAllExcept=revoke_all_except,
                       addFixedToken=add_fixed_token)
    return methods


def dispatch(ex: Exchange, record: UserRecord, rest: list[str]) -> Response:
    """``descriptorByName/<descriptor>/<method>[/]``: 404, else 405 for non-POST, else run."""
    if len(rest) not in (2, 3) or rest[0] not in DESCRIPTOR_NAMES or rest[2:] not in ([], [""]):
        return ex.not_found()
    method = _methods(ex.state.features).get(rest[1])
    if method is None:
        return ex.not_found()
    if ex.req.method != "POST":
        return ex.require_post()
    return method(ex, record)
