"""Abuse below the API, against real servers: invented tenants, idle and half-sent connections,
foreign Host headers, security headers, what is (not) served, and the database file's mode."""

from __future__ import annotations

import asyncio
import os
import resource
import select
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import NO_RATE_LIMITS, ServerProcess, wait_until
from tests.services import answers_health


def rss_kib(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def snapshot_url(server: ServerProcess, tenant: str) -> str:
    return f"{server.url}/api/v1/tenants/{tenant}/snapshot?urlId=a"


@contextmanager
def tenants_table_locked(database_url: str) -> Iterator[None]:
    """While this holds, any query of the tenants table waits: a request that answers did not query."""
    locked, release = threading.Event(), threading.Event()

    async def hold() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.get_running_loop().run_in_executor(None, release.wait)
        finally:
            await connection.close()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


# -- invented tenants -----------------------------------------------------------------------------


def test_malformed_tenant_ids_are_refused_without_a_query(server_with, postgres):
    server = server_with(database_url=postgres.new_database())
    with tenants_table_locked(server.database_url), httpx.Client(timeout=3) as client:
        for tenant in ("x" * 60_000, "UPPER", "dots.dots", "-leading", "é", "a" * 64):
            answer = client.get(snapshot_url(server, tenant), headers={"Origin": "https://site.example"})
            assert answer.status_code == 404 and answer.json()["error"] == "tenant_not_found"
            assert len(answer.content) < 500  # the huge id is not echoed back


def test_the_address_rate_limit_comes_before_the_tenant_lookup(server_with, postgres):
    server = server_with("--ip-requests-per-minute", "4", database_url=postgres.new_database())  # bursts of 10
    refused_at_once = 0
    with tenants_table_locked(server.database_url):
        for n in range(40):
            try:
                answer = httpx.get(snapshot_url(server, f"invented-{n}"), timeout=0.5)
            except httpx.TimeoutException:
                continue  # within the burst: waits on the locked table
            assert answer.status_code == 429 and answer.json()["error"] == "rate_limited"
            refused_at_once += 1
    assert refused_at_once >= 20


def test_invented_tenant_ids_do_not_grow_memory(server_with):
    server = server_with(*NO_RATE_LIMITS)
    with httpx.Client(timeout=10) as client:
        client.get(snapshot_url(server, "warm-up"))
        before = rss_kib(server)
        for n in range(2000):
            huge = f"{n}-{uuid.uuid4().hex}" + "x" * 60_000
            assert client.get(snapshot_url(server, huge)).status_code == 404
            assert client.get(snapshot_url(server, f"t{n}-{uuid.uuid4().hex}")).status_code == 404
        grown_mib = (rss_kib(server) - before) / 1024
    assert grown_mib < 40, f"the server grew by {grown_mib:.0f} MiB"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


# -- idle, slow and too many connections ----------------------------------------------------------


def open_socket(server: ServerProcess, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def is_closed(sock: socket.socket, wait: float = 0) -> bool:
    """The server closed (or reset) the connection."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def seconds_until_closed(socks: list[socket.socket], limit: float) -> float:
    start = time.monotonic()
    remaining = list(socks)
    while remaining and time.monotonic() - start < limit:
        remaining = [sock for sock in remaining if not is_closed(sock, 0.05)]
    return time.monotonic() - start if not remaining else float("inf")


def test_idle_and_half_sent_connections_are_closed_and_the_server_keeps_serving(server_with):
    server = server_with("--header-timeout-seconds", "1", "--keep-alive-seconds", "1")
    idle = [open_socket(server) for _ in range(50)]
    half_sent = [open_socket(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(50)]
    kept_alive = [open_socket(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") for _ in range(10)]
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    for sock in kept_alive:
        assert b"200 OK" in sock.recv(4096)
    # A request that trickles in after a kept-alive one must not hold the connection either.
    for sock in kept_alive[:5]:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    try:
        assert seconds_until_closed(idle + half_sent + kept_alive, limit=5) < 3.5
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        for sock in idle + half_sent + kept_alive:
            sock.close()


def test_a_request_sent_in_time_is_served_whole(server_with):
    server = server_with("--header-timeout-seconds", "1")
    sock = open_socket(server, b"GET /healthz HTTP/1.1\r\n")
    time.sleep(0.5)  # the client under test is slow on purpose (half the deadline), not a wait on the server
    sock.sendall(b"Host: 127.0.0.1\r\n\r\n")
    assert b"200 OK" in sock.recv(4096)
    sock.close()


def test_connections_per_address_are_capped_and_the_server_keeps_serving(server_with):
    server = server_with("--max-http-connections-per-ip", "100", "--max-connections-per-ip", "20",
                         "--header-timeout-seconds", "30", "--keep-alive-seconds", "30")
    with httpx.Client() as before_the_flood:
        assert before_the_flood.get(f"{server.url}/healthz").status_code == 200  # holds 1 of the 100
        flood = [open_socket(server) for _ in range(300)]
        try:
            closed: list[socket.socket] = []

            def over_the_cap_are_closed() -> bool:  # those over the cap the server closes at once
                closed[:] = [sock for sock in flood if is_closed(sock)]
                return len(closed) >= 199

            wait_until(over_the_cap_are_closed)
            assert len(closed) <= 201, len(closed)
            assert before_the_flood.get(f"{server.url}/healthz").status_code == 200
            with pytest.raises(httpx.TransportError):  # this address is at its cap
                httpx.get(f"{server.url}/healthz", timeout=2)
        finally:
            for sock in flood:
                sock.close()
    wait_until(lambda: answers_health(server.url))  # the slots came back
    with connect(server.ws_url, origin=server.url):  # a WebSocket holds one slot and gives it back
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_the_server_raises_its_open_file_limit(server_with):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))  # inherited by the server
    try:
        server = server_with()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(hard), str(hard)], line


# -- Host header ----------------------------------------------------------------------------------


def test_a_foreign_host_is_refused_on_rest_and_websocket(server):
    evil = f"evil.example:{server.port}"
    ada = server.sign_in("Ada")
    rebound = httpx.post(f"{server.url}/api/v1/tenants/demo/sessions", json={"name": "Mallory"},
                         headers={"Host": evil, "Origin": f"http://{evil}"})
    assert rebound.status_code == 400 and rebound.json()["error"] == "invalid_host"
    assert httpx.get(f"{server.url}/demo/", headers={"Host": evil}).status_code == 400
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{evil}/api/v1/tenants/demo/live", origin=f"http://{evil}",
                sock=socket.create_connection(("127.0.0.1", server.port)))
    assert refused.value.response.status_code == 400
    # The names this server answers to by default still work.
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        assert httpx.get(f"{server.url}/healthz", headers={"Host": host}).status_code == 200
    marker = httpx.post(f"{server.url}/api/v1/tenants/demo/markers", headers=ada,
                        json={"urlId": "img-host", "x": 0.5, "y": 0.5, "text": "hi"})
    assert marker.status_code == 201
    with connect(server.ws_url, origin=server.url) as ws:
        ws.send('{"type": "ping"}')
        assert ws.recv(timeout=5) == '{"type":"pong"}'


def test_allowed_hosts_name_the_public_host_behind_a_proxy(server_with):
    server = server_with("--allowed-hosts", "chat.example.com, 127.0.0.1")
    assert httpx.get(f"{server.url}/healthz", headers={"Host": "chat.example.com"}).status_code == 200
    assert httpx.get(f"{server.url}/healthz", headers={"Host": "localhost"}).status_code == 400
    anything = server_with("--allowed-hosts", "*")
    assert httpx.get(f"{anything.url}/healthz", headers={"Host": "whatever.example"}).status_code == 200


# -- headers and what is served -------------------------------------------------------------------


def test_every_response_says_nosniff_and_pages_cannot_be_framed(server):
    for path in ("/healthz", "/embed.js", "/widget.css", "/demo/", "/api/v1/tenants/demo/snapshot?urlId=a",
                 "/api/v1/tenants/nope/snapshot?urlId=a", "/no-such-file"):
        assert httpx.get(f"{server.url}{path}").headers["x-content-type-options"] == "nosniff", path
    for path in ("/demo/", "/demo/sso", "/dashboard/"):
        page = httpx.get(f"{server.url}{path}")
        assert page.status_code == 200, path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"], path
        assert page.headers["x-frame-options"] == "DENY", path
        assert "<script>" not in page.text and "<script type=\"module\">" not in page.text  # no inline scripts


def test_the_sign_on_demo_page_is_not_readable_by_other_sites(server):
    page = httpx.get(f"{server.url}/demo/sso", headers={"Origin": "https://evil.example"})
    assert page.status_code == 200 and "data-sso" in page.text
    assert "access-control-allow-origin" not in page.headers
    # The widget's files stay loadable by any site.
    for path in ("/embed.js", "/widget.css", "/widget/main.py", "/vendor/pyscript/core.js"):
        answer = httpx.get(f"{server.url}{path}", headers={"Origin": "https://site.example"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*", path


def test_only_runtime_files_are_served_not_the_npm_tree(server):
    for path in ("/package.json", "/package-lock.json", "/node_modules/pyodide/package.json",
                 "/node_modules/@pyscript/core/package.json", "/node_modules/"):
        assert httpx.get(f"{server.url}{path}").status_code == 404, path
    assert httpx.get(f"{server.url}/vendor/pyodide/pyodide.mjs").status_code == 200


def test_the_sqlite_database_is_readable_by_its_owner_only(fresh_server):
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{fresh_server.db_path}{suffix}")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
