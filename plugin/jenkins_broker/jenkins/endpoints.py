"""What Jenkins' token endpoints take and answer (docs/jenkins-behaviour.md §4).

:class:`TokenEndpoints` is mixed into :class:`~.client.JenkinsClient`: it knows
the URLs, form parameters and answer shapes of ``generateNewToken``,
``revoke``, ``changeToken`` and ``scriptText``, and leaves sending (CSRF,
timeouts, error mapping) to the client's :meth:`post`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AdminCannotGenerateTokens, JenkinsForbidden, JenkinsProtocolError
from . import answers
from .models import Credential

if TYPE_CHECKING:
    from ..transport import Response


class TokenEndpoints:
    """The ``ApiTokenProperty`` endpoints and the script console, as client methods."""

    # Provided by the client this is mixed into.
    def post(self, path: str, *, credential: Credential, data: dict[str, str] | None = None,
             user: str | None = None, what: str = "posting to Jenkins",
             empty_403: type[JenkinsForbidden] | None = None,
             empty_403_message: str | None = None) -> Response:
        raise NotImplementedError

    def token_endpoint(self, user: str, method: str) -> str:
        raise NotImplementedError

    def generate_new_token(self, credential: Credential, user: str, name: str,
                           expiration_days: int | None = None) -> dict[str, Any]:
        """``POST /user/{user}/descriptorByName/…/generateNewToken`` (§4.1).

        Sends ``newTokenName`` and, when ``expiration_days`` is given,
        ``expirationDuration`` (Jenkins 2.548+; older ones ignore it). Returns the
        ``data`` object (``tokenUuid``, ``tokenName``, ``tokenValue``, …). Raises
        :class:`~jenkins_broker.errors.AdminCannotGenerateTokens` when an
        administrator may not mint for another user, and the mapped errors.
        """
        form = {"newTokenName": name}
        if expiration_days is not None:
            form["expirationDuration"] = str(int(expiration_days))
        what = f"creating an API token for user {user!r}"
        refused: type[JenkinsForbidden]
        if credential.username.casefold() != user.casefold():
            refused, message = AdminCannotGenerateTokens, (
                f"Jenkins refused to let {credential.username!r} create a token for another user "
                f"({user!r}). Jenkins lets administrators do that only when started with "
                f"{answers.ADMIN_PROPERTY}: add that system property and restart Jenkins, or use "
                "the admin-script strategy.")
        else:
            refused, message = JenkinsForbidden, (
                f"Jenkins refused to let {credential.username!r} create a token for {user!r}. "
                "Jenkins lets users create tokens only for themselves: check that the credential "
                "belongs to this user, spelled as Jenkins spells the user id.")
        response = self.post(self.token_endpoint(user, "generateNewToken"), credential=credential,
                             data=form, user=user, what=what, empty_403=refused,
                             empty_403_message=message)
        data = answers.token_envelope(response.text, response.headers.get("Content-Type", ""),
                                      url=response.url, user=user, what=what,
                                      secrets=(credential.secret,))
        if not all(isinstance(data.get(key), str) and data.get(key)
                   for key in ("tokenUuid", "tokenValue")):
            raise JenkinsProtocolError(
                f"Jenkins at {answers.safe_url(response.url)} answered {what} without "
                "tokenUuid and tokenValue.", url=answers.safe_url(response.url), user=user,
                status=response.status)
        return data

    def revoke_token(self, credential: Credential, user: str, uuid: str) -> None:
        """``POST /user/{user}/descriptorByName/…/revoke`` with ``tokenUuid`` (§4.2).

        Idempotent: Jenkins answers 200 for an unknown uuid too. Raises
        ``ValueError`` for a blank uuid and the mapped errors.
        """
        if not uuid or not uuid.strip():
            raise ValueError("revoke_token needs a token uuid")
        self.post(self.token_endpoint(user, "revoke"), credential=credential,
                  data={"tokenUuid": uuid}, user=user,
                  what=f"revoking token {uuid} of user {user!r}")

    def change_legacy_token(self, credential: Credential, user: str) -> str:
        """``POST /user/{user}/descriptorByName/…/changeToken`` (§4.7): rotate the legacy token.

        Returns the new value (from ``X-Jenkins-ValidateButton-Callback`` or the
        ``script`` header). Raises :class:`~jenkins_broker.errors.JenkinsUnsupported`
        when Jenkins may not create one, :class:`~jenkins_broker.errors.JenkinsForbidden`
        when it hid the value, and the mapped errors.
        """
        response = self._post_change_token(credential, user)
        return answers.legacy_token_value(response.headers, response.text, url=response.url,
                                          user=user, as_user=credential.username)

    def invalidate_legacy_token(self, credential: Credential, user: str) -> None:
        """``POST /user/{user}/descriptorByName/…/changeToken`` (§4.7) without reading the
        new value: the current legacy token stops working. Raises
        :class:`~jenkins_broker.errors.JenkinsUnsupported` when Jenkins may not create
        one, and the mapped errors."""
        self._post_change_token(credential, user)

    def _post_change_token(self, credential: Credential, user: str) -> Response:
        return self.post(self.token_endpoint(user, "changeToken"), credential=credential,
                         user=user, what=f"rotating the legacy API token of user {user!r}")

    def script_text(self, credential: Credential, script: str, *, user: str | None,
                    what: str) -> str:
        """``POST /scriptText`` with form param ``script`` (§4.10); return what it printed.

        A script that throws still gets HTTP 200: the caller must parse the output
        strictly (:func:`~jenkins_broker.jenkins.scripts.parse_output`). Raises
        the mapped errors (403 when the credential is not an administrator's).
        """
        response = self.post("scriptText", credential=credential, data={"script": script},
                             user=user, what=what)
        return response.text
