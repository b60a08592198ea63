"""A fake Jenkins: a test double of Jenkins' HTTP API for tokens, crumbs and sessions.

It answers as the Jenkins of jenkins-api.md does (§15 is its checklist), for the
version it emulates, so a client that passes against it passes against Jenkins::

    from jenkins_broker.fakejenkins import FakeJenkins, FakeUser

    with FakeJenkins(users=[FakeUser("admin", "adminpw", admin=True), "ci-bot:botpw"],
                     version="2.555.1") as fj:
        requests.get(fj.url + "whoAmI/api/json", auth=("ci-bot", "botpw"))

Modules: :mod:`.versions` (behaviour switches by version), :mod:`.state` (users,
tokens, sessions, crumbs), :mod:`.app` (the filter chain and dispatch),
:mod:`.tokens` (the ApiTokenProperty endpoints), :mod:`.securitypage` (token
HTML), :mod:`.scriptconsole`, :mod:`.api` (api/json|xml|python), :mod:`.pages`
and :mod:`.exchange` (responses), :mod:`.server` (``FakeJenkins``: threads,
restart, faults), :mod:`.command` (the ``fake-jenkins`` command).

It is not Jenkins: there are no jobs, and the script console runs only the
scripts jenkins-broker itself sends, because no Groovy interpreter is at hand.
"""

from .server import FakeJenkins
from .state import FakeUser

__all__ = ["FakeJenkins", "FakeUser"]
