"""JenkinsClient against canned answers: settings, CSRF handling, version, error mapping."""

import json
import ssl

import pytest
import trustme
import urllib3
import urllib3.exceptions as u3

from jenkins_broker import errors
from jenkins_broker.jenkins import Credential, JenkinsClient
from jenkins_broker.jenkins.client import logs_in_as

from .stub import Answer, basic_user, form, install, stub_session

PASSWORD = "botpw-Secret-42"
TOKEN = "11" + "9f8e7d6c5b4a3921" * 2
ROOT = "http://jenkins.example:8080/"
CRUMB_PAGE = "<h2>HTTP ERROR 403 No valid crumb was included in the request</h2>"
OK_TOKEN = json.dumps({"status": "ok", "data": {
    "tokenUuid": "3f1d8a3e-0000-4000-8000-000000000001", "tokenName": "n", "tokenValue": TOKEN}})


@pytest.fixture
def client():
    c = JenkinsClient(ROOT, timeout=2.0, session=stub_session(url=ROOT))
    yield c
    c.close()


def jenkins(version="2.555.1", *, crumb_issuer=True, post=None, session="a1b2c3d4"):
    """A handler: version headers, a crumb issuer, and ``post(request)`` for POSTs."""
    state = {"crumbs": 0}

    def handle(request):
        path = request.path_url
        if request.method == "GET" and path in ("/api/json", "/login"):
            return Answer(403, "Authentication required", {"X-Jenkins": version,
                                                           "X-Jenkins-Session": session})
        if path == "/crumbIssuer/api/json":
            if not crumb_issuer:
                return Answer(404, "Not found")
            state["crumbs"] += 1
            n = state["crumbs"]
            return Answer(200, json.dumps({"_class": "x", "crumb": f"crumb{n}",
                                           "crumbRequestField": "Jenkins-Crumb"}),
                          {"Content-Type": "application/json", "X-Jenkins": version,
                           "X-Jenkins-Session": session},
                          cookies={"JSESSIONID.5eed": f"session{n}-{basic_user(request)}"})
        if request.method == "POST" and post:
            return post(request)
        return Answer(404, "not here")
    handle.state = state
    return handle


# -- settings --------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["", "jenkins.example", "ftp://jenkins.example/",
                                 "http://bob:s3cr3t-pw@jenkins.example/", "http://h/?a=1",
                                 "http://h:notaport/", "https://"])
def test_bad_urls_are_config_errors_without_credentials(url):
    with pytest.raises(errors.ConfigError) as caught:
        JenkinsClient(url)
    assert "s3cr3t-pw" not in str(caught.value)


def test_url_is_normalised_with_a_trailing_slash():
    assert JenkinsClient("http://h:8080/jenkins").url == "http://h:8080/jenkins/"
    assert JenkinsClient("https://h").url == "https://h/"


@pytest.mark.parametrize("kwargs", [{"kind": "cloudbees"}, {"timeout": 0}, {"timeout": -1},
                                    {"timeout": "10"}, {"timeout": (1, 2, 3)}, {"timeout": True},
                                    {"verify": "/no/such/ca-bundle.pem"}, {"verify": 1}])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(errors.ConfigError):
        JenkinsClient(ROOT, **kwargs)


def test_good_settings(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(trustme.CA().cert_pem.bytes())
    c = JenkinsClient(ROOT, kind="cloudbees-controller", timeout=(1, 5), verify=str(bundle))
    assert c.verify == str(bundle) and c.timeout == (1, 5) and c.is_cloudbees_controller
    assert c.verify_after_mint is True
    assert JenkinsClient(ROOT, verify_after_mint=False).verify_after_mint is False
    # Plain Jenkins: the generate answer is authoritative, no extra round trip by default.
    assert JenkinsClient(ROOT).verify_after_mint is False
    assert JenkinsClient(ROOT, kind="cloudbees-operations-center").verify_after_mint is True


def test_every_call_has_a_timeout(client):
    stub = install(client, jenkins(post=lambda r: Answer(200, OK_TOKEN)))
    client.generate_new_token(Credential.password("ci-bot", PASSWORD), "ci-bot", "n", 2)
    seen = [(s.timeout.connect_timeout, s.timeout.read_timeout) for s in stub.sent]
    assert len(seen) == 2 and all(s == (2.0, 2.0) for s in seen)  # crumb + POST


def test_a_connect_and_read_pair_is_kept_apart():
    c = JenkinsClient(ROOT, timeout=(1.5, 7), session=stub_session(url=ROOT))
    stub = install(c, lambda r: Answer(200, "{}", {"X-Jenkins": "2.555.1"}))
    c.version(refresh=True)
    assert (stub.sent[0].timeout.connect_timeout, stub.sent[0].timeout.read_timeout) == (1.5, 7)


@pytest.mark.parametrize("verify, reqs", [(True, ssl.CERT_REQUIRED), (False, ssl.CERT_NONE)])
def test_the_tls_setting_reaches_the_pools(verify, reqs):
    with JenkinsClient("https://jenkins.example/", verify=verify) as c:
        assert c.session.pool_manager.connection_pool_kw["cert_reqs"] == reqs


def test_a_ca_bundle_that_is_not_pem_is_refused_when_the_client_is_built(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(errors.ConfigError, match="TLS settings cannot be used"):
        JenkinsClient("https://jenkins.example/", verify=str(bundle))


# -- CSRF ------------------------------------------------------------------------------

def test_token_posts_carry_no_crumb_and_no_cookie(client):
    stub = install(client, jenkins(post=lambda r: Answer(200, OK_TOKEN)))
    data = client.generate_new_token(Credential.token("ci-bot", TOKEN), "ci-bot", "n", 3)
    assert data["tokenValue"] == TOKEN
    post = [r for r in stub.sent if r.method == "POST"][-1]
    assert "Jenkins-Crumb" not in post.headers and "Cookie" not in post.headers
    assert not [r for r in stub.sent if "crumbIssuer" in r.url]
    assert form(post) == {"newTokenName": "n", "expirationDuration": "3"}
    assert basic_user(post) == "ci-bot"


def test_password_posts_carry_crumb_cookie_and_basic_and_reuse_them(client):
    stub = install(client, jenkins(post=lambda r: Answer(200, OK_TOKEN)))
    cred = Credential.password("ci-bot", PASSWORD)
    client.generate_new_token(cred, "ci-bot", "a")
    client.generate_new_token(cred, "ci-bot", "b")
    posts = [r for r in stub.sent if r.method == "POST"]
    assert len(posts) == 2 and len([r for r in stub.sent if "crumbIssuer" in r.url]) == 1
    for post in posts:
        assert post.headers["Jenkins-Crumb"] == "crumb1"
        assert post.headers["Cookie"] == "JSESSIONID.5eed=session1-ci-bot"
        assert basic_user(post) == "ci-bot"
    assert form(posts[0]) == {"newTokenName": "a"}


def test_each_credential_has_its_own_session(client):
    stub = install(client, jenkins(post=lambda r: Answer(200, "")))
    client.revoke_token(Credential.password("ci-bot", PASSWORD), "ci-bot", "u1")
    client.revoke_token(Credential.password("admin", "adminpw"), "ci-bot", "u1")
    cookies = [r.headers["Cookie"] for r in stub.sent if r.method == "POST"]
    assert cookies == ["JSESSIONID.5eed=session1-ci-bot", "JSESSIONID.5eed=session2-admin"]


def test_crumb_error_refetches_once_and_retries(client):
    answers = iter([Answer(403, CRUMB_PAGE), Answer(200, "")])
    handler = jenkins(post=lambda r: next(answers))
    stub = install(client, handler)
    client.revoke_token(Credential.password("ci-bot", PASSWORD), "ci-bot", "u1")
    posts = [r for r in stub.sent if r.method == "POST"]
    assert [p.headers["Jenkins-Crumb"] for p in posts] == ["crumb1", "crumb2"]
    assert handler.state["crumbs"] == 2


def test_a_second_crumb_error_is_raised(client):
    stub = install(client, jenkins(post=lambda r: Answer(403, CRUMB_PAGE + PASSWORD)))
    with pytest.raises(errors.JenkinsCrumbError) as caught:
        client.revoke_token(Credential.password("ci-bot", PASSWORD), "ci-bot", "u1")
    assert len([r for r in stub.sent if r.method == "POST"]) == 2
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)


def test_without_crumb_issuer_no_crumb_is_sent(client):
    stub = install(client, jenkins(crumb_issuer=False, post=lambda r: Answer(200, "")))
    cred = Credential.password("ci-bot", PASSWORD)
    client.revoke_token(cred, "ci-bot", "u1")
    client.revoke_token(cred, "ci-bot", "u2")
    posts = [r for r in stub.sent if r.method == "POST"]
    assert all("Jenkins-Crumb" not in p.headers for p in posts)
    assert len([r for r in stub.sent if "crumbIssuer" in r.url]) == 1  # the 404 is cached too


def test_token_posts_need_a_crumb_before_2_96(client):
    stub = install(client, jenkins("2.89.4", post=lambda r: Answer(200, "")))
    client.revoke_token(Credential.token("ci-bot", TOKEN), "ci-bot", "u1")
    assert [r for r in stub.sent if r.method == "POST"][0].headers["Jenkins-Crumb"] == "crumb1"


def test_a_restart_seen_in_x_jenkins_session_drops_cached_crumbs(client):
    handler = jenkins(post=lambda r: Answer(200, ""))
    install(client, handler)
    cred = Credential.password("ci-bot", PASSWORD)
    client.revoke_token(cred, "ci-bot", "u1")
    install(client, jenkins(post=lambda r: Answer(200, ""), session="ffff0000"))
    client.version(refresh=True)
    assert client._crumbs == {}


def test_posts_never_follow_redirects(client):
    stub = install(client, jenkins(post=lambda r: Answer(302, "", {"Location": ROOT + "login"})))
    with pytest.raises(errors.JenkinsProtocolError):
        client.revoke_token(Credential.token("ci-bot", TOKEN), "ci-bot", "u1")
    assert [r.method for r in stub.sent].count("POST") == 1


# -- version ---------------------------------------------------------------------------

def test_version_from_api_json_even_on_403_and_cached(client):
    stub = install(client, jenkins("2.504"))
    assert client.version() == "2.504" and client.version_tuple() == (2, 504)
    assert client.at_least(2, 468) and not client.at_least(2, 505)
    assert len(stub.sent) == 1


def test_version_falls_back_to_login_then_credentials(client):
    def handle(request):
        if request.path_url == "/login":
            return Answer(200, "<html>sign in</html>")
        if basic_user(request):
            return Answer(200, "{}", {"X-Jenkins": "2.176.1"})
        return Answer(401, "")
    stub = install(client, handle)
    assert client.version(credential=Credential.password("ci-bot", PASSWORD)) == "2.176.1"
    assert [r.path_url for r in stub.sent] == ["/api/json", "/login", "/api/json"]


def test_version_unknown_is_none(client):
    install(client, lambda r: Answer(200, "<html>not jenkins</html>"))
    assert client.version() is None and client.version_tuple() is None
    assert client.at_least(2, 548, unknown=True) and not client.at_least(2, 548, unknown=False)


# -- identity ---------------------------------------------------------------------------

@pytest.mark.parametrize("answer, expected", [
    (Answer(200, json.dumps({"name": "ci-bot", "authenticated": True, "anonymous": False})), True),
    (Answer(401, "", {"WWW-Authenticate": 'Basic realm="Jenkins"'}), False),
    (Answer(200, json.dumps({"name": "anonymous", "authenticated": True, "anonymous": True})), False),
    (Answer(200, json.dumps({"name": "other", "authenticated": True, "anonymous": False})), False),
    (Answer(200, json.dumps({"name": "ci-bot", "authenticated": False, "anonymous": False})), False),
])
def test_verify_token(client, answer, expected):
    stub = install(client, lambda r: answer)
    assert client.verify_token("ci-bot", TOKEN) is expected
    assert stub.sent[0].path_url == "/whoAmI/api/json" and basic_user(stub.sent[0]) == "ci-bot"


def test_verify_token_raises_when_jenkins_is_broken(client):
    install(client, lambda r: Answer(500, "oops"))
    with pytest.raises(errors.JenkinsServerError):
        client.verify_token("ci-bot", TOKEN)


# -- endpoint-specific answers -------------------------------------------------------------

def test_admin_minting_for_another_user_without_the_property(client):
    install(client, jenkins(post=lambda r: Answer(403, "")))
    with pytest.raises(errors.AdminCannotGenerateTokens) as caught:
        client.generate_new_token(Credential.token("admin", TOKEN), "ci-bot", "n")
    message = str(caught.value)
    assert "-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true" in message
    assert "'ci-bot'" in message and TOKEN not in message


def test_minting_for_oneself_refused_is_plain_forbidden(client):
    install(client, jenkins(post=lambda r: Answer(403, "")))
    with pytest.raises(errors.JenkinsForbidden) as caught:
        client.generate_new_token(Credential.token("ci-bot", TOKEN), "ci-bot", "n")
    assert type(caught.value) is errors.JenkinsForbidden


def test_generate_answer_without_value_is_a_protocol_error(client):
    install(client, jenkins(post=lambda r: Answer(200, '{"status":"ok","data":{"tokenUuid":"u"}}')))
    with pytest.raises(errors.JenkinsProtocolError):
        client.generate_new_token(Credential.token("ci-bot", TOKEN), "ci-bot", "n")


def test_user_ids_are_percent_encoded(client):
    stub = install(client, jenkins(post=lambda r: Answer(200, "")))
    client.revoke_token(Credential.token("a/b c", TOKEN), "a/b c", "u1")
    assert stub.sent[-1].path_url.startswith("/user/a%2Fb%20c/descriptorByName/")


# -- every mapped error, through the client, never showing a secret ------------------------

STATUS_CASES = [
    (Answer(401, "Unauthorized SECRET"), errors.JenkinsAuthError),
    (Answer(403, CRUMB_PAGE + "SECRET"), errors.JenkinsCrumbError),
    (Answer(403, "<h1>Access Denied</h1> SECRET", {
        "X-Required-Permission": "hudson.model.Hudson.Administer",
        "X-You-Are-Authenticated-As": "ci-bot"}), errors.JenkinsForbidden),
    (Answer(403, ""), errors.AdminCannotGenerateTokens),
    (Answer(404, "Oops SECRET"), errors.JenkinsNotFound),
    (Answer(405, "This URL requires POST SECRET"), errors.JenkinsMethodNotAllowed),
    (Answer(400, "The tokenUuid cannot be empty SECRET"), errors.JenkinsBadRequest),
    (Answer(500, "Oops SECRET"), errors.JenkinsServerError),
    (Answer(503, ""), errors.JenkinsServerError),
    (Answer(429, "SECRET"), errors.JenkinsUnavailable),
    (Answer(301, "", {"Location": "https://sso.example/SECRET?t=SECRET"}),
     errors.JenkinsProtocolError),
    (Answer(418, "SECRET"), errors.JenkinsProtocolError),
    (Answer(200, '{"status":"error","message":"Expiration date is in the past. SECRET"}'),
     errors.JenkinsOperationFailed),
    (Answer(200, "<html>login page SECRET</html>"), errors.JenkinsProtocolError),
]


@pytest.mark.parametrize("kind", ["password", "token"])
@pytest.mark.parametrize("answer, expected", STATUS_CASES,
                         ids=[f"{a.status}-{e.__name__}" for a, e in STATUS_CASES])
def test_every_answer_maps_to_a_named_error_without_secrets(client, kind, answer, expected):
    # Jenkins never echoes a credential, but if something in between did, it must not show.
    secret = PASSWORD if kind == "password" else TOKEN
    echoed = Answer(answer.status, answer.body.replace("SECRET", secret),
                    {k: v.replace("SECRET", secret) for k, v in answer.headers.items()})
    install(client, jenkins(post=lambda r: echoed))
    with pytest.raises(errors.BrokerError) as caught:
        client.generate_new_token(Credential("admin", secret, kind), "ci-bot", "n", 2)
    assert type(caught.value) is expected
    for text in (str(caught.value), repr(caught.value)):
        assert PASSWORD not in text and TOKEN not in text
    assert caught.value.url.startswith(ROOT) and caught.value.user == "ci-bot"


def _transport_errors():
    """What a urllib3 pool raises, each carrying the URL and credentials in its text."""
    url = ROOT + "user/ci-bot/descriptorByName/x/generateNewToken"
    text = f"{url} Basic {PASSWORD} [Errno 111] Connection refused"
    pool = urllib3.HTTPConnectionPool("jenkins.example", 8080)
    return [
        u3.NewConnectionError(None, text), u3.NameResolutionError("jenkins.example", None, OSError(text)),
        u3.ConnectTimeoutError(text), u3.ReadTimeoutError(pool, url, text),
        u3.SSLError(text), u3.ProxyError(text, OSError(text)), u3.ProtocolError(text),
        u3.DecodeError(text), u3.MaxRetryError(pool, url, u3.NewConnectionError(None, text)),
        u3.MaxRetryError(pool, url, u3.ResponseError(text)), u3.LocationParseError(text),
        u3.HeaderParsingError([], text), u3.IncompleteRead(3, 10), ConnectionResetError(text),
        TimeoutError(text), ssl.SSLError(text), OSError(text),
    ]


@pytest.mark.parametrize("exc", _transport_errors(), ids=lambda e: type(e).__name__)
def test_every_transport_failure_maps_through_the_client_without_secrets(client, exc):
    def handle(request):
        if request.method == "POST":
            return exc
        return jenkins()(request)
    install(client, handle)
    with pytest.raises(errors.BrokerError) as caught:
        client.generate_new_token(Credential.password("ci-bot", PASSWORD), "ci-bot", "n")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for text in (str(caught.value), repr(caught.value)):
        assert PASSWORD not in text and "Basic " not in text


@pytest.mark.parametrize("me, user, expected", [
    ({"name": "ci-bot", "authenticated": True, "anonymous": False}, "ci-bot", True),
    # Jenkins reports the id as its realm stores it; ids compare ignoring case.
    ({"name": "ci-bot", "authenticated": True, "anonymous": False}, "CI-Bot", True),
    ({"name": "other", "authenticated": True, "anonymous": False}, "ci-bot", False),
    ({"name": "anonymous", "authenticated": True, "anonymous": True}, "anonymous", False),
    ({"name": "anonymous", "authenticated": True}, "anonymous", False),
    ({"name": "ci-bot", "authenticated": False, "anonymous": False}, "ci-bot", False),
    ({"name": None, "authenticated": True, "anonymous": False}, "None", False),
    ({}, "ci-bot", False),
])
def test_the_one_rule_for_who_a_credential_logs_in_as(me, user, expected):
    assert logs_in_as(me, user) is expected


def test_verify_token_accepts_the_user_in_another_case(client):
    stub = install(client, lambda r: Answer(200, json.dumps(
        {"name": "ci-bot", "authenticated": True, "anonymous": False})))
    assert client.verify_token("CI-Bot", TOKEN) is True
    assert basic_user(stub.sent[0]) == "CI-Bot"
