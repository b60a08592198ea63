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
HTML), :mod:`.scriptconsole` with :mod:`.groovyconsole`, :mod:`.groovyruntime` and
:mod:`.bridge` (the script console), :mod:`.api` (api/json|xml|python), :mod:`.pages`
and :mod:`.exchange` (responses), :mod:`.server` (``FakeJenkins``: threads,
restart, faults), :mod:`.command` (the ``fake-jenkins`` command).

It is not Jenkins: there are no jobs. Its script console runs Groovy 2.4 for real, in
one JVM per fake, against Jenkins-shaped classes (``groovy/``: ``Jenkins``, ``User``,
``ApiTokenProperty`` and its token store, as each emulated version has them) backed by
the fake's own users and tokens (docs/fake-jenkins-groovy.md). It needs Groovy 2.4 and
Java for that alone; without them a script is answered with how to install them.
"""

from .server import FakeJenkins
from .state import FakeUser

__all__ = ["FakeJenkins", "FakeUser"]
