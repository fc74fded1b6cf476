"""Redis pub/sub backend, for several server processes or machines.

Redis pub/sub is at-most-once: messages published while a node's connection is down are lost.
So the reader reconnects by itself, resubscribes, and reports a gap (`Receiver.on_gap`): the
node then tells its viewers to resume from their last seq, and they catch up from the event log.
A connection that dies silently (no error, no close) is found by probing: an idle subscription is
PINGed, and no answer within a few probe intervals counts as dead.

A message is `<seq>:<payload>`: the seq travels beside the encoded event, never parsed out of it.
The reader task hands each message to the receiver itself (no queue between them).

Publishes made in one turn of the event loop (a group commit answers its changes in one turn) go
to Redis together, in one pipeline: one write and one read for all of them, not one round trip
each. Publishing goes through the client's pooled connections, which die with a restarted Redis
without anyone noticing until they are used: a pipeline that fails on one is tried once more, on
a fresh connection. Without that retry the first change after a restart would reach no viewer
(the subscriptions are back, so no gap is reported).
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from imagechat.broker import Discard, Envelope, Receiver

log = logging.getLogger("imagechat.broker.redis")

PREFIX = "imagechat:"
# Presence goes on a Redis channel of its own beside each image's: a node of an older version never
# reads it as an event, and no event parser sees it.
PRESENCE_PREFIX = PREFIX + "presence:"
PROBE_SECONDS = 5.0  # ping an idle subscription this often; dead after 3 silent probes
RETRY_SECONDS = (0.2, 0.5, 1, 2, 5)


class RedisBackend:
    def __init__(self, url: str, probe_seconds: float = PROBE_SECONDS) -> None:
        self._url = url
        self._probe = probe_seconds
        self._client: redis.Redis | None = None
        self._pubsub = None
        self._channels: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._receiver: Receiver = Discard()
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        # Publishes of this turn of the loop, each with the future its publisher awaits.
        self._outgoing: list[tuple[str, str, asyncio.Future[None]]] = []
        self._senders: set[asyncio.Task[None]] = set()

    def listen(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def connect(self) -> None:
        self._client = redis.from_url(self._url, decode_responses=True, socket_connect_timeout=5)
        self._reader = asyncio.create_task(self._read_forever(), name="redis-reader")
        try:
            await asyncio.wait_for(self._connected.wait(), 10)
        except TimeoutError:
            log.warning("Redis at %s is not answering yet; live events wait for it", self._url)

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._client is not None:
            await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        """Returns once Redis confirmed the subscription (or the connection is down: then the
        reconnection resubscribes and reports a gap)."""
        self._channels.add(channel)
        if self._pubsub is None:
            return
        confirmed = self._confirmations[channel] = asyncio.get_running_loop().create_future()
        try:
            await self._pubsub.subscribe(*_redis_channels(channel))
            await asyncio.wait_for(asyncio.shield(confirmed), 5)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("subscribing to %s failed (%s); the reconnection will resubscribe", channel, error)
        finally:
            self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(*_redis_channels(channel))
            except (RedisError, OSError):
                pass  # the connection is gone: the resubscription will leave this one out

    async def publish(self, channel: str, envelope: Envelope) -> None:
        await self._publish(PREFIX + channel, encode(envelope))

    async def publish_presence(self, channel: str, payload: str) -> None:
        await self._publish(PRESENCE_PREFIX + channel, payload)

    async def _publish(self, redis_channel: str, data: str) -> None:
        """Returns once Redis took it, or once it failed (logged: see `_send`)."""
        if not self._outgoing:  # the first of this turn: the sender runs once the turn's others are in
            sender = asyncio.create_task(self._send(), name="redis-publish")
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        sent = asyncio.get_running_loop().create_future()
        self._outgoing.append((redis_channel, data, sent))
        await sent

    async def _send(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        assert self._client is not None
        try:
            try:
                await self._pipeline(outgoing)
            except RedisConnectionError:  # a pooled connection that died with a restarted Redis
                await self._pipeline(outgoing)
        except (RedisError, OSError) as error:
            # A change is stored: viewers catch up when the reconnected nodes tell them to resume.
            # Presence: the next report (every heartbeat) makes it good.
            log.warning("publishing %d message(s) to Redis failed: %s", len(outgoing), error)
        finally:
            for _channel, _data, sent in outgoing:
                if not sent.done():
                    sent.set_result(None)

    async def _pipeline(self, outgoing: list[tuple[str, str, asyncio.Future[None]]]) -> None:
        assert self._client is not None
        async with self._client.pipeline(transaction=False) as pipeline:
            for redis_channel, data, _sent in outgoing:
                pipeline.publish(redis_channel, data)
            await pipeline.execute()

    async def _read_forever(self) -> None:
        attempt = 0
        first = True
        while True:
            assert self._client is not None
            pubsub = self._client.pubsub()
            try:
                await pubsub.ping()  # connects
                subscribed = set(self._channels)
                if subscribed:
                    await pubsub.subscribe(*(name for channel in subscribed for name in _redis_channels(channel)))
                self._pubsub = pubsub
                late = self._channels - subscribed  # asked for while we were resubscribing
                if late:
                    await pubsub.subscribe(*(name for channel in late for name in _redis_channels(channel)))
                self._connected.set()
                if not first:
                    log.info("reconnected to Redis; resubscribed to %d channels", len(self._channels))
                    self._receiver.on_gap()
                first, attempt = False, 0
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ConnectionError, TimeoutError) as error:
                if self._pubsub is not None or first:
                    log.warning("lost Redis pub/sub connection: %s", error)
                self._pubsub = None
                self._connected.clear()
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
            finally:
                self._pubsub = None
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def _read(self, pubsub) -> None:  # type: ignore[no-untyped-def]
        heard = time.monotonic()
        probed = heard
        while True:
            message = await pubsub.get_message(timeout=self._probe / 2)
            now = time.monotonic()
            if message is not None:
                heard = now
                kind = message["type"]
                channel = message.get("channel") or ""
                if kind == "message" and channel.startswith(PRESENCE_PREFIX):
                    self._receiver.on_presence(channel.removeprefix(PRESENCE_PREFIX), message["data"])
                elif kind == "message":
                    self._deliver(channel.removeprefix(PREFIX), message["data"])
                elif kind == "subscribe":
                    confirmed = self._confirmations.get(channel.removeprefix(PREFIX))
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(None)
            if now - heard > 3 * self._probe:
                raise ConnectionError(f"Redis pub/sub silent for {now - heard:.0f} s")
            if now - heard > self._probe and now - probed > self._probe:
                probed = now
                await pubsub.ping()

    def _deliver(self, channel: str, data: str) -> None:
        try:
            envelope = decode(data)
        except ValueError:
            # Not ours (a node of an older version, another program): what it meant is in the log.
            log.warning("unreadable message on %s; telling viewers to catch up", channel)
            self._receiver.on_gap()
            return
        self._receiver.on_message(channel, envelope)


def _redis_channels(channel: str) -> tuple[str, str]:
    """The Redis channels of one image: its events, and its presence."""
    return PREFIX + channel, PRESENCE_PREFIX + channel


def encode(envelope: Envelope) -> str:
    return f"{envelope.seq}:{envelope.payload}"


def decode(data: str) -> Envelope:
    seq, colon, payload = data.partition(":")
    if not colon:
        raise ValueError("no seq")
    return Envelope(int(seq), payload)
