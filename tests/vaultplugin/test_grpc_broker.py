"""go-plugin's broker, plugin side: a brokered address that never comes is a DialError."""

import asyncio
import ssl

import pytest

from jenkins_broker import errors
from jenkins_broker.vaultplugin import grpc_broker as broker


def test_an_address_that_never_comes_is_a_dial_error_not_a_broker_error():
    """It was called BrokerError too, and OpenBao's log said "internal error: BrokerError: ..."
    for a plugin fault that has nothing to do with errors.BrokerError, the project's own root."""
    assert not hasattr(broker, "BrokerError")
    assert not issubclass(broker.DialError, errors.BrokerError)

    async def dial():
        await broker.Broker(ssl.create_default_context()).dial(7, timeout=0.01)
    with pytest.raises(broker.DialError, match="did not send the address of brokered service 7"):
        asyncio.run(dial())
