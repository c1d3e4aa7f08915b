"""Connection floods (issue 15.1) against a real `vultus serve`: idle sockets from a process without a
key must not lock keyed clients out, and sockets that never finish their headers are closed."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import keyed_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    options = ("--rate", "0", "--max-connections", "100", "--header-timeout", "2")
    with keyed_server(tmp_path_factory.mktemp("flood"), "read", *options) as s:
        yield s


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_idle_sockets_do_not_lock_out_keyed_clients(server):
    s, key = server
    idle = [connect(s.url) for _ in range(300)]  # three times the cap, no byte sent
    try:
        t0 = time.monotonic()
        r = httpx.get(s.url + "/v1/me", headers={"X-API-Key": key}, timeout=10)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < 2.0
        # the oldest idle sockets were closed to make room
        assert sum(closed_by_server(sock, 0.05) for sock in idle[:50]) == 50

        def health(_):
            return httpx.get(s.url + "/v1/health", timeout=20).status_code

        with ThreadPoolExecutor(100) as pool:  # a burst of 100 new connections at once
            assert set(pool.map(health, range(100))) == {200}
    finally:
        for sock in idle:
            sock.close()


def test_headers_have_a_deadline(server):
    s, key = server
    silent = connect(s.url)
    slow = connect(s.url)
    slow.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    try:
        assert closed_by_server(silent, 5.0) and closed_by_server(slow, 5.0)
    finally:
        silent.close()
        slow.close()
    # a client that keeps its connection between requests is not affected
    with httpx.Client(base_url=s.url, headers={"X-API-Key": key}) as client:
        assert [client.get("/v1/me").status_code for _ in range(3)] == [200] * 3
