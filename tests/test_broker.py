"""The broker and its backends, in process: the memory backend, and the Redis backend against a
throwaway redis-server (two backends on one Redis stand for two nodes)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from tests.services import run
from imagechat.broker import Broker, Envelope
from imagechat.broker.memory import MemoryBackend
from imagechat.broker.redis import PREFIX, RedisBackend, decode, encode

PAYLOAD = '{"type":"new-image-chat","seq":7,"text":"a: b"}'


class Recorder:
    """A receiver that remembers what it was handed."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Envelope]] = []
        self.gaps = 0
        self._arrived = asyncio.Event()

    def on_message(self, channel: str, envelope: Envelope) -> None:
        self.messages.append((channel, envelope))
        self._arrived.set()

    def on_gap(self) -> None:
        self.gaps += 1
        self._arrived.set()

    async def next(self, timeout: float = 5) -> None:
        await asyncio.wait_for(self._arrived.wait(), timeout)
        self._arrived.clear()


def test_a_broker_needs_a_url_or_a_backend():
    with pytest.raises(ValueError):
        Broker()
    with pytest.raises(ValueError, match="unsupported"):
        Broker("kafka://somewhere")
    backend = MemoryBackend()
    assert Broker(backend=backend)._backend is backend


def test_the_memory_backend_hands_the_envelope_over_in_the_publishers_call():
    async def body() -> None:
        broker, recorder = Broker("memory://"), Recorder()
        broker.listen(recorder)
        await broker.connect()
        await broker.publish("image:demo:a", 7, PAYLOAD)
        assert recorder.messages == [("image:demo:a", Envelope(7, PAYLOAD))]  # no queue, no task between
        await broker.disconnect()

    run(body())


def test_a_redis_message_carries_the_seq_beside_the_payload():
    assert encode(Envelope(7, PAYLOAD)) == "7:" + PAYLOAD
    assert decode(encode(Envelope(7, PAYLOAD))) == Envelope(7, PAYLOAD)  # a colon in the payload stays
    for unreadable in (PAYLOAD, "x:" + PAYLOAD):
        with pytest.raises(ValueError):
            decode(unreadable)


async def node(url: str) -> tuple[Broker, Recorder]:
    broker, recorder = Broker(url), Recorder()
    broker.listen(recorder)
    await broker.connect()
    return broker, recorder


def test_redis_carries_envelopes_between_nodes_on_subscribed_channels_only(redis_server):
    async def body() -> None:
        (one, _), (two, heard) = await node(redis_server.url), await node(redis_server.url)
        await two.subscribe("image:demo:a")
        await one.publish("image:demo:b", 1, "{}")  # no one on this node watches b
        await one.publish("image:demo:a", 7, PAYLOAD)
        await heard.next()
        assert heard.messages == [("image:demo:a", Envelope(7, PAYLOAD))]
        await two.unsubscribe("image:demo:a")
        await one.publish("image:demo:a", 8, PAYLOAD)
        with pytest.raises(TimeoutError):
            await heard.next(timeout=0.3)
        for broker in (one, two):
            await broker.disconnect()

    run(body())


def test_publishes_of_one_turn_share_a_connection_and_arrive_in_their_order(redis_server):
    """A group commit answers its changes in one turn of the loop: their events go in one pipeline,
    not one pooled connection (and round trip) each, which would also let them overtake each other."""

    async def body() -> None:
        (one, _), (two, heard) = await node(redis_server.url), await node(redis_server.url)
        await two.subscribe("image:demo:a")
        await asyncio.gather(*(one.publish("image:demo:a", seq, PAYLOAD) for seq in range(1, 51)))
        while len(heard.messages) < 50:
            await heard.next()
        assert [envelope.seq for _channel, envelope in heard.messages] == list(range(1, 51))
        counter = redis.from_url(redis_server.url)
        clients = await counter.client_list()
        await counter.aclose()
        # The publisher's pool, the two subscriptions and this one: not 50 publishing connections.
        assert len(clients) <= 4, [client["cmd"] for client in clients]
        for broker in (one, two):
            await broker.disconnect()

    run(body())


def test_an_unreadable_redis_message_counts_as_a_gap(redis_server):
    async def body() -> None:
        broker, heard = await node(redis_server.url)
        await broker.subscribe("image:demo:a")
        client = redis.from_url(redis_server.url)
        await client.publish(PREFIX + "image:demo:a", PAYLOAD)  # an older node's bare JSON
        await heard.next()
        assert (heard.messages, heard.gaps) == ([], 1)
        await client.aclose()
        await broker.disconnect()

    run(body())


def test_after_a_redis_restart_the_backend_reports_a_gap_and_is_subscribed_again(redis_server):
    async def body() -> None:
        backend, heard = RedisBackend(redis_server.url, probe_seconds=0.5), Recorder()
        broker = Broker(backend=backend)
        broker.listen(heard)
        await broker.connect()
        await broker.subscribe("image:demo:a")
        await asyncio.to_thread(redis_server.stop)
        await asyncio.to_thread(redis_server.start)
        await heard.next(timeout=20)
        assert heard.gaps == 1
        publisher, _ = await node(redis_server.url)
        await publisher.publish("image:demo:a", 9, PAYLOAD)
        await heard.next()
        assert heard.messages == [("image:demo:a", Envelope(9, PAYLOAD))]
        for each in (publisher, broker):
            await each.disconnect()

    run(body())


def test_the_first_publish_after_a_redis_restart_reaches_the_other_nodes(redis_server):
    """The publisher's pooled connection died with the old Redis: its next publish must not be lost."""

    async def body() -> None:
        (one, _), (two, heard) = await node(redis_server.url), await node(redis_server.url)
        await two.subscribe("image:demo:a")
        await one.publish("image:demo:a", 1, PAYLOAD)  # the publisher now holds a pooled connection
        await heard.next()
        await asyncio.to_thread(redis_server.stop)
        await asyncio.to_thread(redis_server.start)
        await heard.next(timeout=20)  # the subscriber is back: a gap
        assert heard.gaps == 1
        await one.publish("image:demo:a", 2, PAYLOAD)
        await heard.next()
        assert heard.messages[-1] == ("image:demo:a", Envelope(2, PAYLOAD))
        for broker in (one, two):
            await broker.disconnect()

    run(body())
