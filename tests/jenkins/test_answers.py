"""The mapping tables of jenkins/answers.py, without any network."""

import json

import pytest

from jenkins_broker import errors, transport
from jenkins_broker.jenkins import answers

PASSWORD = "pa55-Word-for-tests"
TOKEN = "11" + "a1b2c3d4e5f60718" * 2
LEGACY = "0f1e2d3c4b5a6978" * 2
URL = "http://jenkins.example:8080/user/ci-bot/descriptorByName/x/generateNewToken"


def _transport_classes():
    seen, todo = set(), [transport.TransportError]
    while todo:
        klass = todo.pop()
        if klass not in seen:
            seen.add(klass)
            todo.extend(klass.__subclasses__())
    return sorted(seen - {transport.TransportError}, key=lambda k: k.__name__)


def test_every_transport_failure_class_is_mapped_explicitly():
    classes = _transport_classes()
    assert len(classes) >= 9
    missing = [k.__name__ for k in classes if k not in answers.TRANSPORT_ERRORS]
    assert not missing, f"transport failures without an explicit mapping: {missing}"


EXPECTED = {
    "ConnectTimeout": errors.JenkinsTimeout, "ReadTimeout": errors.JenkinsTimeout,
    "TLSFailure": errors.JenkinsConnectionError, "ProxyFailure": errors.JenkinsConnectionError,
    "ConnectFailed": errors.JenkinsConnectionError,
    "ConnectionBroken": errors.JenkinsConnectionError,
    "TooManyRedirects": errors.JenkinsProtocolError, "BadRequest": errors.JenkinsProtocolError,
    "LocalFailure": errors.ConfigError,
}


@pytest.mark.parametrize("klass", _transport_classes(), ids=lambda k: k.__name__)
def test_each_transport_failure_becomes_a_broker_error_without_secrets(klass):
    # A hostile reason carrying secrets, and a URL with a query.
    exc = klass("POST", URL + f"?token={TOKEN}", f"refused {PASSWORD} {TOKEN}")
    error = answers.error_for_transport(exc, method="POST", url=URL, user="ci-bot",
                                        what="creating a token", timeout=0.5,
                                        secrets=(PASSWORD, TOKEN))
    assert type(error) is EXPECTED[klass.__name__]
    for rendered in (str(error), repr(error)):
        assert PASSWORD not in rendered and TOKEN not in rendered
        assert "Basic" not in rendered
    if isinstance(error, errors.JenkinsError):
        assert error.url == "http://jenkins.example:8080/user/ci-bot/descriptorByName/x/generateNewToken"
        assert error.user == "ci-bot"
        assert "jenkins.example:8080" in str(error)


def test_transport_message_quotes_the_transport_reason():
    exc = transport.ConnectFailed("GET", "http://h:1/", "cannot connect: Connection refused")
    error = answers.error_for_transport(exc, method="GET", url="http://h:1/", user=None,
                                        what="detecting the version")
    assert "[cannot connect: Connection refused]" in str(error)


def test_urls_in_messages_lose_user_info_and_query():
    assert answers.safe_url("https://bob:pw@h:8443/a/b?x=1#f") == "https://h:8443/a/b"
    error = answers.error_for_transport(transport.ReadTimeout("GET", "https://h/x", "read timed out"),
                                        method="GET", url="https://bob:pw@h/x?token=" + TOKEN,
                                        user="bob", what="x", timeout=3)
    assert "pw" not in str(error) and TOKEN not in str(error)
    assert "timeout 3 s" in str(error)


def _status(status, body="", headers=None, user="ci-bot", as_user="ci-bot", **kw):
    return answers.error_for_status(status, headers or {}, body, url=URL, user=user,
                                    as_user=as_user, what="creating a token", **kw)


CRUMB_PAGE = ("<html><head><title>Error 403 No valid crumb was included in the request</title>"
              "</head><body><h2>HTTP ERROR 403 No valid crumb was included in the request</h2>")


@pytest.mark.parametrize("status, body, headers, expected", [
    (401, "<html>HTTP ERROR 401 Unauthorized</html>", {"WWW-Authenticate": 'Basic realm="Jenkins"'},
     errors.JenkinsAuthError),
    (403, CRUMB_PAGE, {}, errors.JenkinsCrumbError),
    (403, "<html>ci-bot is missing the Overall/Administer permission</html>",
     {"X-You-Are-Authenticated-As": "ci-bot", "X-Required-Permission": "hudson.model.Hudson.Administer"},
     errors.JenkinsForbidden),
    (403, "<html>Authentication required</html>", {"X-Jenkins": "2.555.1"}, errors.JenkinsForbidden),
    (403, "", {}, errors.JenkinsForbidden),
    (404, "<html>Not found</html>", {}, errors.JenkinsNotFound),
    (405, "<html>This URL requires POST</html>", {"Allow": "POST"}, errors.JenkinsMethodNotAllowed),
    (400, "<html>The tokenUuid cannot be empty</html>", {}, errors.JenkinsBadRequest),
    (500, "<html>Oops! A problem occurred</html>", {}, errors.JenkinsServerError),
    (502, "Bad gateway", {}, errors.JenkinsServerError),
    (503, "", {}, errors.JenkinsServerError),
    (429, "", {}, errors.JenkinsUnavailable),
    (302, "", {"Location": "https://sso.example/login?from=%2F&t=" + TOKEN}, errors.JenkinsProtocolError),
    (418, "teapot", {}, errors.JenkinsProtocolError),
])
def test_status_mapping(status, body, headers, expected):
    error = _status(status, body + PASSWORD, headers, secrets=(PASSWORD,))
    assert type(error) is expected
    assert error.status == status and error.user == "ci-bot"
    for rendered in (str(error), repr(error)):
        assert PASSWORD not in rendered and TOKEN not in rendered
        assert "jenkins.example:8080" in rendered


def test_2xx_is_not_an_error():
    assert _status(200) is None and _status(204) is None


def test_crumb_error_also_recognised_from_the_reason_phrase():
    assert type(_status(403, "", reason=answers.CRUMB_ERROR_TEXT)) is errors.JenkinsCrumbError


def test_empty_403_gets_the_endpoint_specific_class_and_advice():
    error = _status(403, "", user="ci-bot", as_user="admin",
                    empty_403=errors.AdminCannotGenerateTokens, empty_403_message="start with X")
    assert type(error) is errors.AdminCannotGenerateTokens
    assert "start with X" in str(error)
    # a 403 with a body is the normal page, not the empty-body case
    error = _status(403, "<html>Access Denied</html>", as_user="admin",
                    empty_403=errors.AdminCannotGenerateTokens)
    assert type(error) is errors.JenkinsForbidden


def test_400_quotes_jenkins_text_redacted():
    error = _status(400, f"<html><body>The tokenUuid cannot be empty {TOKEN}</body></html>")
    assert "The tokenUuid cannot be empty" in str(error)
    assert TOKEN not in str(error)


def test_token_envelope_ok_error_and_garbage():
    data = {"tokenUuid": "u", "tokenName": "n", "tokenValue": TOKEN}
    assert answers.token_envelope(json.dumps({"status": "ok", "data": data}), "application/json",
                                  url=URL, user="u", what="w") == data
    assert answers.token_envelope('{"status":"ok"}', "application/json", url=URL, user="u",
                                  what="w") == {}
    with pytest.raises(errors.JenkinsOperationFailed) as caught:
        answers.token_envelope('{"status":"error","message":"Expiration date is in the past."}',
                               "application/json", url=URL, user="u", what="w")
    assert "in the past" in str(caught.value)
    for garbage in ("<html>login</html>", "[]", '{"status":"maybe"}', '{"status":"ok","data":3}'):
        with pytest.raises(errors.JenkinsProtocolError):
            answers.token_envelope(garbage, "text/html", url=URL, user="u", what="w")


CALLBACK = "X-Jenkins-ValidateButton-Callback"


def _legacy(headers, body="<div>Updated. See the new token in the field above</div>"):
    return answers.legacy_token_value(headers, body, url=URL, user="ci-bot", as_user="ci-bot")


def test_legacy_value_from_the_callback_header():
    header = json.dumps({"callback": "changeTokenCallback", "arguments": [LEGACY]})
    assert _legacy({CALLBACK: header}) == LEGACY


def test_legacy_value_from_the_script_header():
    assert _legacy({"script": f"document.getElementById('apiToken').value='{LEGACY}'"}) == LEGACY


@pytest.mark.parametrize("headers, expected", [
    ({"script": "document.getElementById('apiToken').value='Token is hidden'"},
     errors.JenkinsForbidden),
    ({"script": "alert(1)"}, errors.JenkinsProtocolError),
    ({CALLBACK: "not json"}, errors.JenkinsProtocolError),
    ({CALLBACK: json.dumps({"callback": "other", "arguments": [LEGACY]})}, errors.JenkinsProtocolError),
    ({CALLBACK: json.dumps({"callback": "changeTokenCallback", "arguments": ["Token is hidden"]})},
     errors.JenkinsProtocolError),
    ({}, errors.JenkinsProtocolError),
])
def test_legacy_value_errors(headers, expected):
    with pytest.raises(expected) as caught:
        _legacy(headers)
    assert LEGACY not in str(caught.value)


def test_legacy_creation_disabled_is_unsupported_with_advice():
    body = ("<div>Capability to generate a legacy token without an existing one is currently "
            "disabled in the security configuration</div>")
    with pytest.raises(errors.JenkinsUnsupported) as caught:
        _legacy({}, body)
    assert "creationOfLegacyTokenEnabled" in str(caught.value)


@pytest.mark.parametrize("text, parsed", [
    ("2.555.1", (2, 555, 1)), ("2.504", (2, 504)), ("2.401.2.3-rolling", (2, 401, 2, 3)),
    (" 1.651.3 ", (1, 651, 3)), ("", None), (None, None), ("unknown", None),
])
def test_parse_version(text, parsed):
    assert answers.parse_version(text) == parsed


def test_page_text_strips_markup_scripts_and_secrets():
    page = f"<html><script>var t='{TOKEN}'</script><b>Bad &amp; worse</b> {LEGACY}</html>"
    assert answers.page_text(page) == "Bad & worse <redacted>"
