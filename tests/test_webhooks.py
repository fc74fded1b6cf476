"""Webhooks against a real `imagechat serve` and a real HTTP receiver on this machine: delivery in
order, signatures, retries after the receiver was down, nothing lost when the server is killed."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagechat.webhooks import signing
from tests.conftest import NO_RATE_LIMITS, ServerProcess, wait_until
from tests.rest import Rest, ok
from tests.services import free_port

FAST_RETRIES = ("--webhook-retry-base-seconds", "0.2")


class Received:
    """One POST as the receiver got it, and when (time.monotonic)."""

    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.at = time.monotonic()
        self.headers = headers
        self.body = body
        self.json = json.loads(body)

    @property
    def id(self) -> str:
        return self.headers[signing.ID_HEADER]


class Receiver:
    """A webhook receiver: records every POST and answers `status(post)` (200 by default). It can
    be stopped and started again on the same port (a receiver that was down)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.posts: list[Received] = []
        self.status: Callable[[Received], int] = lambda _post: 200
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                post = Received(dict(self.headers.items()), body)
                status = receiver.status(post)
                if 200 <= status < 300:
                    receiver.posts.append(post)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict]:
        return [post.json["event"] for post in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def cli(server: ServerProcess, *arguments: str) -> subprocess.CompletedProcess[str]:
    """An `imagechat` command on the server's database, its exit status kept (unlike server.cli)."""
    return subprocess.run([sys.executable, "-m", "imagechat", *arguments, "--database-url", server.database_url],
                          capture_output=True, text=True)


def new_tenant(server: ServerProcess) -> tuple[str, str]:
    """A tenant of its own (id, secret), usable from the server's own origin."""
    tenant_id = f"hooks-{free_port()}"
    output = server.cli("tenant", "create", "Hooks", "--id", tenant_id, "--origin", "self")
    return tenant_id, output.split("api secret: ")[1].strip()


def add_webhook(server: ServerProcess, tenant_id: str, url: str) -> str:
    return server.cli("webhook", "add", tenant_id, url).split("\t")[0]


def test_signature_verifies_and_a_tampered_body_does_not() -> None:
    body = b'{"event":{"type":"new-image-chat","seq":1}}'
    headers = signing.signed_headers("s3cret", "wh.1.1", body, now=1_800_000_000)
    assert headers[signing.SIGNATURE_HEADER].startswith("v1=")
    assert signing.verify("s3cret", headers, body, now=1_800_000_010)
    assert not signing.verify("s3cret", headers, body.replace(b"1}", b"2}"), now=1_800_000_010)
    assert not signing.verify("another", headers, body, now=1_800_000_010)
    assert not signing.verify("s3cret", headers, body, now=1_800_000_000 + signing.TOLERANCE_SECONDS + 1)
    replayed = {**headers, signing.TIMESTAMP_HEADER: "1800000100"}  # a new timestamp on an old signature
    assert not signing.verify("s3cret", replayed, body, now=1_800_000_100)


def test_the_readmes_verification_snippet_agrees() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    snippet = readme.split("Check it before trusting the body")[1].split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)
    body = b'{"event":{"type":"deleted-image-chat","seq":9}}'
    headers = signing.signed_headers("s3cret", "wh.1.9", body)
    assert namespace["verify"]("s3cret", headers, body)
    assert not namespace["verify"]("s3cret", headers, body + b" ")


def test_every_change_is_delivered_in_order_and_signed(server_with, database, receiver: Receiver) -> None:
    server = server_with(*NO_RATE_LIMITS, database_url=database())
    tenant_id, secret = new_tenant(server)
    hook = add_webhook(server, tenant_id, receiver.start().url)
    rest = Rest(server, tenant=tenant_id)

    answers, latencies = [], []

    def change(response) -> None:
        """Make a change; wait for its POST; keep the time from the REST answer to the POST."""
        answered = time.monotonic()
        answers.append(ok(response))
        wait_until(lambda: len(receiver.posts) == len(answers))
        latencies.append(receiver.posts[-1].at - answered)

    change(rest.create_marker("wh-order", "first"))
    marker_id = answers[0]["marker"]["id"]
    change(rest.reply(marker_id, "second"))
    reply_id = answers[1]["comment"]["id"]
    change(rest.edit(reply_id, "second, edited"))
    change(rest.delete_comment(reply_id))
    change(rest.delete_marker(marker_id))
    for index in range(15):  # more samples for the latency figures
        change(rest.create_marker(f"wh-latency-{index}", "measured"))

    assert receiver.events() == answers  # each event exactly as the REST answer (the wire event)
    assert [event["type"] for event in receiver.events()[:5]] == [
        "new-image-chat", "image-chat-updated", "image-chat-updated", "image-chat-updated", "deleted-image-chat"]
    assert [event["seq"] for event in receiver.events()[:5]] == [1, 2, 3, 4, 5]
    for post in receiver.posts:
        assert post.json["tenant"] == tenant_id and post.json["webhook"] == hook
        assert post.id == post.json["id"] == f"{hook}.{post.id.split('.')[1]}.{post.json['event']['seq']}"
        assert signing.verify(secret, post.headers, post.body)
        assert not signing.verify(secret, post.headers, post.body.replace(b'"tenant":"', b'"tenant":"x'))
    assert {post.json["urlId"] for post in receiver.posts[:5]} == {"wh-order"}
    print(f"\nwebhook latency, REST answer -> receiver got the POST, {len(latencies)} changes "
          f"({'postgresql' if server.database_url.startswith('postgresql') else 'sqlite'}): "
          f"median {statistics.median(latencies) * 1000:.1f} ms, "
          f"min {min(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")


def test_retried_after_the_receiver_was_down(server_with, receiver: Receiver) -> None:
    server = server_with(*FAST_RETRIES)
    tenant_id, secret = new_tenant(server)
    add_webhook(server, tenant_id, receiver.url)  # not listening yet
    rest = Rest(server, tenant=tenant_id)
    first = ok(rest.create_marker("wh-down", "while down"))
    second = ok(rest.reply(first["marker"]["id"], "still down"))
    wait_until(lambda: "failing: ConnectError" in server.cli("webhook", "list", tenant_id))

    receiver.start()
    wait_until(lambda: len(receiver.posts) == 2)
    assert receiver.events() == [first, second]
    assert all(signing.verify(secret, post.headers, post.body) for post in receiver.posts)
    wait_until(lambda: "failing" not in server.cli("webhook", "list", tenant_id))


def test_an_event_refused_for_the_whole_retry_window_is_given_up(server_with, receiver: Receiver) -> None:
    server = server_with("--webhook-retry-base-seconds", "0.1", "--webhook-retry-for-seconds", "1")
    receiver.status = lambda post: 500 if post.json["event"]["seq"] == 1 else 200
    tenant_id, _secret = new_tenant(server)
    add_webhook(server, tenant_id, receiver.start().url)
    rest = Rest(server, tenant=tenant_id)
    first = ok(rest.create_marker("wh-refused", "refused"))
    second = ok(rest.reply(first["marker"]["id"], "accepted"))

    wait_until(lambda: len(receiver.posts) == 1)  # the next event goes out only once the first is given up
    assert receiver.events() == [second]
    assert "given up: 1" in server.cli("webhook", "list", tenant_id)


def test_nothing_is_lost_when_the_server_is_killed(server_with, receiver: Receiver) -> None:
    server = server_with(*FAST_RETRIES)
    tenant_id, _secret = new_tenant(server)
    add_webhook(server, tenant_id, receiver.start().url)
    rest = Rest(server, tenant=tenant_id)
    first = ok(rest.create_marker("wh-restart", "delivered before"))
    wait_until(lambda: len(receiver.posts) == 1)

    receiver.stop()
    second = ok(rest.reply(first["marker"]["id"], "committed, not delivered"))
    wait_until(lambda: "failing" in server.cli("webhook", "list", tenant_id))
    server.kill()  # as a crash would: nothing flushed, no goodbye
    receiver.start()
    server.start()

    wait_until(lambda: len(receiver.posts) == 2)
    assert receiver.events() == [first, second]  # the first not sent again: it had been accepted
    assert len({post.id for post in receiver.posts}) == 2


def test_two_nodes_on_postgresql_send_each_event_once_in_order(server_with, postgres, receiver: Receiver) -> None:
    url = postgres.new_database()
    nodes = [server_with(*NO_RATE_LIMITS, database_url=url) for _ in range(2)]
    tenant_id, _secret = new_tenant(nodes[0])
    add_webhook(nodes[0], tenant_id, receiver.start().url)
    clients = [Rest(node, tenant=tenant_id) for node in nodes]
    for round_ in range(10):  # both nodes commit, wake and poll; each image's events cross nodes
        for index, client in enumerate(clients):
            ok(client.create_marker(f"wh-node-{(round_ + index) % 2}", f"round {round_}"))

    wait_until(lambda: len(receiver.posts) == 20)
    assert len({post.id for post in receiver.posts}) == 20
    for url_id in ("wh-node-0", "wh-node-1"):
        assert [post.json["event"]["seq"] for post in receiver.posts if post.json["urlId"] == url_id] == list(range(1, 11))


def test_cli_adds_lists_tests_and_removes_webhooks(fresh_server: ServerProcess, receiver: Receiver) -> None:
    tenant_id, secret = new_tenant(fresh_server)
    refused = cli(fresh_server, "webhook", "add", tenant_id, "ftp://example.com/hook")
    assert refused.returncode == 2 and "not an http:// or https:// URL" in refused.stderr
    unknown = cli(fresh_server, "webhook", "add", "no-such-tenant", receiver.url)
    assert unknown.returncode == 2 and "no tenant 'no-such-tenant'" in unknown.stderr

    hook = add_webhook(fresh_server, tenant_id, receiver.url)
    assert f"{hook}\t{tenant_id}\t{receiver.url}\tgiven up: 0" in fresh_server.cli("webhook", "list")
    down = cli(fresh_server, "webhook", "test", hook)
    assert down.returncode == 1 and "no answer: ConnectError" in down.stdout

    receiver.start()
    assert fresh_server.cli("webhook", "test", hook).strip() == "HTTP 200"
    [post] = receiver.posts
    assert post.json["event"] == {"type": "webhook-test"} and post.json["webhook"] == hook
    assert signing.verify(secret, post.headers, post.body)

    assert fresh_server.cli("webhook", "remove", hook).strip() == f"removed webhook {hook}"
    assert fresh_server.cli("webhook", "list", tenant_id) == ""
    gone = cli(fresh_server, "webhook", "test", hook)
    assert gone.returncode == 2 and "no webhook" in gone.stderr
