"""HTML bodies of the fake Jenkins: Jenkins pages and container (Jetty) error pages.

Pure functions from values to text; the headers that go with each page are set by
:mod:`.exchange`. The pages carry the markers clients and people rely on
(docs/jenkins-behaviour.md §5): ``HTTP ERROR <code>`` and the message on
container pages, "Oops!" on the oops and 404 pages, "Authentication required" on the login
redirect, "This URL requires POST" on the 405 retry page.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote


def container_error(status: int, message: str, uri: str) -> str:
    """A ``sendError`` page as the servlet container renders it (§3.5, §5)."""
    msg = escape(message)
    return (
        "<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"<title>Error {status} {msg}</title>\n"
        "</head>\n<body>\n"
        f"<h2>HTTP ERROR {status} {msg}</h2>\n"
        "<table>\n"
        f"<tr><th>URI:</th><td>{escape(uri)}</td></tr>\n"
        f"<tr><th>STATUS:</th><td>{status}</td></tr>\n"
        f"<tr><th>MESSAGE:</th><td>{msg}</td></tr>\n"
        "<tr><th>SERVLET:</th><td>Stapler</td></tr>\n"
        "</table>\n"
        "<hr/>jenkins-broker fake Jenkins (a test double, not Jenkins)<hr/>\n"
        "</body>\n</html>\n"
    )


def layout(title: str | None, body: str, *, version: str, crumb_field: str, crumb: str,
           root: str = "") -> str:
    """A full page in Jenkins' standard layout; the head carries the page's crumb."""
    full_title = f"{escape(title)} - Jenkins" if title else "Jenkins"
    return (
        "<!DOCTYPE html>\n<html>\n"
        f'<head data-rooturl="{escape(root)}" data-resurl="{escape(root)}/static/fake" '
        f'data-crumb-header="{escape(crumb_field)}" data-crumb-value="{escape(crumb)}">\n'
        f"<title>{full_title}</title>\n</head>\n"
        '<body id="jenkins" class="yui-skin-sam one-column jenkins-2">\n'
        '<header id="page-header"><a id="jenkins-home-link" href="/">Jenkins</a></header>\n'
        f'<div id="page-body"><div id="main-panel">\n{body}\n</div></div>\n'
        f'<footer class="page-footer">Jenkins {escape(version)} '
        "(jenkins-broker fake Jenkins: a test double, not Jenkins)</footer>\n"
        "</body>\n</html>\n"
    )


def oops_body(logging_id: str) -> str:
    """The body of jenkins/model/Jenkins/oops.jelly (stack traces are hidden by default)."""
    return (
        '<h1 style="text-align: center"><span style="font-size:50px">&#160;Oops!</span></h1>\n'
        '<div id="error-description">\n'
        '<h2 style="text-align: center">A problem occurred while processing the request</h2>\n'
        f'<p style="text-align: center">Logging ID={escape(logging_id)}</p>\n'
        "</div>"
    )


def not_found_body(anonymous: bool) -> str:
    """The body of Jenkins' 404 page (_404.jelly) on a secured instance."""
    hint = " If you have an account, try logging in." if anonymous else ""
    return (
        '<h1 style="text-align: center"><span style="font-size:50px">&#160;Oops!</span></h1>\n'
        '<div id="error-description" style="text-align: center">\n<h2>Not Found</h2>\n'
        f"<p>This page may not exist, or you may not have permission to see it.{hint}</p>\n"
        "</div>"
    )


def access_denied_body(message: str) -> str:
    """The body of accessDenied.jelly: the exception message, e.g. "x is missing ..."."""
    return f'<h1>Access Denied</h1>\n<p class="error">{escape(message)}</p>'


def require_post_body(url: str) -> str:
    """The body of CrumbFilter/retry.jelly, shown by @RequirePOST (§4.0)."""
    return (
        "<h1>This URL requires POST</h1>\n"
        "<p>This address only accepts POST requests, such as a submitted form. "
        "Use the button below to send the request again as a POST. Requested URL:</p>\n"
        f"<p><code>{escape(url)}</code></p>\n"
        "<p><strong>Only retry if you trust the page that sent you here.</strong></p>\n"
        '<form method="post" name="retry" action="">'
        '<button type="submit" class="jenkins-button jenkins-button--primary">'
        "Retry using POST</button></form>"
    )


def login_redirect(login_url: str, report: list[str] | None) -> str:
    """HudsonAuthenticationEntryPoint's 403 body: a meta refresh to the login form (§5)."""
    target = escape(login_url, quote=True)
    text = (
        f"<html><head><meta http-equiv='refresh' content='1;url={target}'/>"
        f"<script id='redirect' data-redirect-url='{target}' "
        "src='/static/fake/scripts/redirect.js'></script></head>"
        "<body style='background-color:white; color:white;'>\n"
        "Authentication required\n<!--\n"
    )
    if report:
        text += "".join(escape(line) + "\n" for line in report)
    return text + "-->\n\n</body></html>" + " " * 300


def login_form_url(path: str, query: str) -> str:
    """``/login?from=<encoded request URI>`` as the entry point builds it."""
    origin = path + (f"?{query}" if query else "")
    return "/login?from=" + quote(origin, safe="")


def login_page(from_url: str, version: str) -> str:
    """The sign-in page (login.jelly): a form posting to j_spring_security_check."""
    return (
        "<!DOCTYPE html>\n<html><head><title>Sign in [Jenkins]</title></head>\n"
        '<body class="app-sign-in-register"><div class="app-sign-in-register__content">\n'
        "<h1>Sign in to Jenkins</h1>\n"
        '<form method="post" name="login" action="j_spring_security_check">\n'
        '<input type="text" name="j_username" id="j_username" autocomplete="username"/>\n'
        '<input type="password" name="j_password" id="j_password"/>\n'
        f'<input type="hidden" name="from" value="{escape(from_url, quote=True)}"/>\n'
        '<button type="submit" name="Submit" class="jenkins-button">Sign in</button>\n'
        "</form>\n"
        f"<footer>Jenkins {escape(version)} (jenkins-broker fake Jenkins: a test double, "
        "not Jenkins)</footer>\n</div></body></html>\n"
    )


def dashboard_body(user_ids: list[str]) -> str:
    """A minimal dashboard for ``GET /``; lists the people, since there are no jobs."""
    people = "".join(f'<li><a href="/user/{quote(u.lower())}/">{escape(u)}</a></li>'
                     for u in user_ids)
    return (f'<h1>Welcome to Jenkins!</h1>\n<p>This fake Jenkins has no jobs.</p>\n'
            f'<ul id="people">{people}</ul>')


def user_body(user_id: str, full_name: str) -> str:
    """The user's index page."""
    return (f'<h1>{escape(full_name)}</h1>\n<p>Jenkins User ID: {escape(user_id)}</p>\n'
            f'<a href="security/">Security</a>')


def who_am_i_body(name: str, authenticated: bool, anonymous: bool, authorities: list[str],
                  headers: list[tuple[str, str]]) -> str:
    """The /whoAmI/ page; credential-bearing headers are redacted as in §4.8."""
    hidden = {"cookie", "authorization", "www-authenticate", "proxy-authenticate",
              "proxy-authorization"}
    rows = "".join(
        f"<tr><td>{escape(k)}</td>"
        f"<td>{'(redacted)' if k.lower() in hidden else escape(v)}</td></tr>"
        for k, v in headers)
    return (
        "<h1>Who Am I?</h1>\n<table>\n"
        f"<tr><td>Name:</td><td>{escape(name)}</td></tr>\n"
        f"<tr><td>IsAuthenticated?:</td><td>{str(authenticated).lower()}</td></tr>\n"
        f"<tr><td>Anonymous?:</td><td>{str(anonymous).lower()}</td></tr>\n"
        f"<tr><td>Authorities:</td><td>{escape(', '.join(authorities))}</td></tr>\n"
        f"</table>\n<h2>Request Headers</h2>\n<table>{rows}</table>"
    )


def script_console_body(script: str, output: str | None) -> str:
    """The /script console page with the output embedded."""
    shown = "" if output is None else f'<h2>Result</h2>\n<pre>{escape(output)}</pre>'
    return (
        "<h1>Script Console</h1>\n"
        "<p>Groovy 2.4, against the classes of a fake Jenkins: users and API tokens "
        "only.</p>\n"
        '<form method="post" action="script"><textarea name="script">'
        f'{escape(script)}</textarea><button type="submit">Run</button></form>\n{shown}'
    )
