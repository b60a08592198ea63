"""Keep-alive and its pool: one connection for sequential requests, a close honoured, an
idle connection the server closed replaced, at most pool_size connections kept."""

from __future__ import annotations

import threading

from jenkins_broker.transport import Session
from tests.support import wait_for


def test_one_connection_serves_sequential_requests(serve, session):
    server, url = serve()
    for _ in range(5):
        assert session.request("GET", f"{url}/echo").status == 200
    assert len(server.peers) == 1


def test_connection_close_is_honoured(serve, session):
    server, url = serve()
    for _ in range(3):
        assert session.request("GET", f"{url}/close").text == "bye"
    assert len(server.peers) == 3


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(serve, session):
    server, url = serve()
    assert session.request("GET", f"{url}/close-quietly").status == 200
    assert server.closed.wait(10)
    # The server closed without saying so; the pooled socket is now readable (EOF).
    assert session.request("GET", f"{url}/echo").status == 200
    assert len(server.peers) == 2


def test_the_pool_keeps_at_most_pool_size_connections(serve):
    server, url = serve()
    results = []
    with Session(url, pool_size=2, timeout=10) as session:
        def worker():
            results.append(session.request("GET", f"{url}/hang").text)
        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: len(server.peers) == 6, interval=0.005, what="six connections open at once")
        server.release.set()
        for t in threads:
            t.join(10)
        assert results == ["late"] * 6
        pool = session.pool_manager.connection_from_url(url)
        assert pool.num_connections == 6 and pool.pool.qsize() == 2  # four closed after use
