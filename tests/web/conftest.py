"""The HTTP API over in-memory fakes: a policy table stands in for Vault's answers."""

import pytest

from jenkins_broker.web import create_app
from tests.support.web import Services


@pytest.fixture
def services():
    services = Services()
    yield services
    services.fast_path.close()


@pytest.fixture
def client(services):
    return create_app(services, {"TESTING": True}).test_client()
