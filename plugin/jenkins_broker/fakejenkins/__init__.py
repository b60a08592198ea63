"""A fake Jenkins: a test double of Jenkins' HTTP API for tokens, crumbs and sessions.

It answers as Jenkins does according to docs/jenkins-behaviour.md (§15 is its
checklist), for the version it emulates, so a client that passes against it
passes against Jenkins as far as that page is right::

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

It is not Jenkins: there are no jobs, and there is no Groovy interpreter. The
script console recognises the Groovy scripts jenkins-broker itself sends
(:mod:`jenkins_broker.jenkins.scripts`) and carries out their effect in Python
(:mod:`.scriptconsole`); any other script gets a stack trace. So the Groovy of
those scripts is never executed by any test (docs/jenkins-behaviour.md §4.10).
"""

from .server import FakeJenkins
from .state import FakeUser

__all__ = ["FakeJenkins", "FakeUser"]
