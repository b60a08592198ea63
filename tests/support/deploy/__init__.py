"""The Docker deployment, checked without Docker: docker-compose.yml, the three
Dockerfiles, the JCasC file, deploy/bootstrap.sh, deploy/plugin-bootstrap.sh
and .dockerignore.

Docker cannot run where these tests run, so each file is parsed and compared
with what the code really does: the environment variables the broker reads
(from ``BrokerSettings`` and ``vault.settings.ENV_NAMES``), the subcommands and
options of ``jenkins_broker.commands.cli``, the role fields ``build_role`` accepts.

Every check is a function of a :class:`~tests.support.deploy.files.Deploy` (the files,
read from disk unless replaced) returning a list of problems; :data:`CHECKS` names them.
``files`` reads and parses, ``facts`` asks the code, and the checks are grouped by what
they read: ``compose``, ``bootstrap``, ``images``, ``plugin``, ``docs``. The tests are in
``tests/deploy/``: ``test_check_passes`` runs each check on the files as they are;
``test_check_catches`` breaks a file in memory (one text replacement) and asserts that
the check notices, so no check can silently pass everything.
"""

from __future__ import annotations

from typing import Callable

from tests.support.deploy.bootstrap import check_bootstrap_script, check_bootstrap_service
from tests.support.deploy.compose import (
    check_depends_on,
    check_env_example,
    check_environment,
    check_healthchecks,
    check_images_pinned,
    check_loopback_ports,
    check_services,
    check_shared_volume,
)
from tests.support.deploy.docs import check_docs
from tests.support.deploy.files import Deploy
from tests.support.deploy.images import check_broker_dockerfile, check_casc, check_jenkins
from tests.support.deploy.plugin import check_plugin_profile

CHECKS: dict[str, Callable[[Deploy], list[str]]] = {
    f.__name__.removeprefix("check_"): f for f in (
        check_services, check_images_pinned, check_healthchecks, check_depends_on,
        check_environment, check_loopback_ports, check_shared_volume, check_bootstrap_service,
        check_bootstrap_script, check_broker_dockerfile, check_jenkins, check_casc,
        check_env_example, check_plugin_profile, check_docs)}
