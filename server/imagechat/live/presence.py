"""Who is looking at each image now, over every node, at a bounded cost.

Each node knows its own viewers of an image (a count, and the signed-in ones' names) and reports
them to the other nodes through the broker, beside the image's events (no seq, never stored). It
keeps the latest report of every other node per image; a report not renewed within
`EXPIRY_HEARTBEATS` heartbeats is dropped (that node died or lost its broker connection), and a
node whose last viewer of an image left reports a count of 0 at once. A report from a node not
heard of before on an image is answered with this node's own (that node just came, and missed it).

Cost does not grow with arrivals and departures: they only mark the image. One task per node
sends what changed, then waits `protocol.PRESENCE_SECONDS` before sending again, so an image gets
at most one report from each node and its viewers at most one `presence` frame per interval,
however many come and go; a frame goes out only when the count or names changed (a newcomer gets
the current one). No task or timer per viewer or per image. Reports are renewed on the hub's
heartbeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagechat import protocol
from imagechat.live.batching import Frame

if TYPE_CHECKING:
    from imagechat.broker import Broker
    from imagechat.live.hub import Viewer
    from imagechat.security.tokens import Identity

log = logging.getLogger("imagechat.live.presence")
EXPIRY_HEARTBEATS = 3  # another node's report is forgotten when not renewed for this many heartbeats
Names = tuple[tuple[str, str], ...]  # (author id, name), sorted by name


class _Image:
    """One image as this node sees it: its local viewers, and the other nodes' latest reports."""

    __slots__ = ("anonymous", "people", "viewers", "watchers", "fresh", "reports", "shown")

    def __init__(self) -> None:
        self.anonymous = 0  # local sockets without a signed-in identity
        self.people: dict[str, list] = {}  # author id -> [name, local sockets]
        self.viewers: dict[Viewer, str | None] = {}  # local socket -> its author id
        self.watchers: set[Viewer] = set()  # local sockets that asked for presence frames
        self.fresh: set[Viewer] = set()  # watchers that have not had a frame yet
        self.reports: dict[str, tuple[float, int, Names]] = {}  # node -> (expires at, count, names)
        self.shown: tuple[int, list[str]] | None = None  # the last frame's count and names

    def local(self) -> tuple[int, Names]:
        names = sorted(((author, entry[0]) for author, entry in self.people.items()), key=_by_name)
        return self.anonymous + len(self.people), tuple(names[:protocol.MAX_PRESENCE_NAMES])

    def merged(self) -> tuple[int, list[str]]:
        """Everyone watching, over the nodes (a person on two nodes counts twice), and some names."""
        count, local_names = self.local()
        names = dict(local_names)
        for _expires, node_count, node_names in self.reports.values():
            count += node_count
            names.update(node_names)
        shown = sorted(names.items(), key=_by_name)[:protocol.MAX_PRESENCE_NAMES]
        return count, [name for _author, name in shown]


def _count_in(image: _Image, viewer: Viewer, identity: Identity | None) -> None:
    image.viewers[viewer] = identity.id if identity is not None else None
    if identity is None:
        image.anonymous += 1
    else:
        entry = image.people.setdefault(identity.id, [identity.name, 0])
        entry[0] = identity.name
        entry[1] += 1


def _count_out(image: _Image, author: str | None) -> None:
    if author is None:
        image.anonymous -= 1
    else:
        entry = image.people[author]
        entry[1] -= 1
        if not entry[1]:
            del image.people[author]


def _by_name(person: tuple[str, str]) -> tuple[str, str]:
    author, name = person
    return name.casefold(), author


class Presence:
    def __init__(self, broker: Broker, heartbeat_seconds: float, *,
                 interval: float = protocol.PRESENCE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._broker = broker
        self._interval = interval
        self._expiry = EXPIRY_HEARTBEATS * heartbeat_seconds
        self._clock = clock
        self.node = secrets.token_hex(6)  # tells this node's own reports (echoed by the broker) apart
        self._images: dict[str, _Image] = {}
        self._to_report: set[str] = set()  # images whose local viewers changed, or to renew
        self._to_show: set[str] = set()  # images whose merged presence may have changed
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="presence")

    def arrive(self, channel: str, viewer: Viewer, identity: Identity | None, watches: bool) -> None:
        """`viewer` watches the image on `channel`; `watches`: it asked for presence frames."""
        image = self._images.get(channel)
        if image is None:
            image = self._images[channel] = _Image()
        _count_in(image, viewer, identity)
        if watches:
            image.watchers.add(viewer)
            image.fresh.add(viewer)
        self._changed(channel, report=True)

    def depart(self, channel: str, viewer: Viewer) -> None:
        image = self._images.get(channel)
        if image is None or viewer not in image.viewers:
            return
        _count_out(image, image.viewers.pop(viewer))
        image.watchers.discard(viewer)
        image.fresh.discard(viewer)
        self._changed(channel, report=True)

    def identify(self, channel: str, viewer: Viewer, identity: Identity) -> None:
        """`viewer` signed in (or changed its name) while watching: it is named from now on."""
        image = self._images.get(channel)
        if image is None or viewer not in image.viewers:
            return
        _count_out(image, image.viewers[viewer])
        _count_in(image, viewer, identity)
        self._changed(channel, report=True)

    def on_presence(self, channel: str, payload: str) -> None:
        """Another node's report (this node's own come back too, and are ignored)."""
        image = self._images.get(channel)
        if image is None:
            return  # no viewer here: nothing to show it to
        try:
            node, count, names = _decode(payload)
        except (ValueError, TypeError, KeyError):
            log.warning("unreadable presence report on %s", channel)
            return
        if node == self.node:
            return
        if count:
            # A node new to this image has not heard this node's report: send it again.
            introduce = node not in image.reports and bool(image.viewers)
            image.reports[node] = (self._clock() + self._expiry, count, names)
            self._changed(channel, report=introduce)
        elif image.reports.pop(node, None) is not None:
            self._changed(channel, report=False)

    def beat(self) -> None:
        """The hub's heartbeat: renew this node's reports, forget the reports of silent nodes."""
        now = self._clock()
        for channel, image in self._images.items():
            if image.viewers:
                self._to_report.add(channel)
            silent = [node for node, (expires, _count, _names) in image.reports.items() if expires < now]
            for node in silent:
                del image.reports[node]
            if silent:
                self._to_show.add(channel)
        if self._to_report or self._to_show:
            self._wake.set()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def _changed(self, channel: str, report: bool) -> None:
        if report:
            self._to_report.add(channel)
        self._to_show.add(channel)
        self._wake.set()

    async def _run(self) -> None:
        """Send what changed at once, then nothing more for an interval: the first arrival on a
        quiet node is shown at once, and a crowd coming and going costs one round per interval."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._show()
            await self._report()
            await asyncio.sleep(self._interval)

    def _show(self) -> None:
        channels, self._to_show = self._to_show, set()
        for channel in channels:
            image = self._images.get(channel)
            if image is None or not image.watchers:
                continue
            merged = image.merged()
            to = image.watchers if merged != image.shown else image.fresh
            if to:
                frame = Frame(protocol.presence(*merged))
                for viewer in to:
                    viewer.deliver(frame)
            image.shown = merged
            image.fresh.clear()

    async def _report(self) -> None:
        channels, self._to_report = self._to_report, set()
        for channel in channels:
            image = self._images.get(channel)
            if image is None:
                continue
            count, names = image.local()
            if not count:  # the last local viewer left: the others drop this node's report now
                del self._images[channel]
            try:
                await self._broker.publish_presence(channel, _encode(self.node, count, names))
            except Exception:  # a backend that failed: the next heartbeat's report makes it good
                log.exception("presence report on %s failed", channel)


def _encode(node: str, count: int, names: Names) -> str:
    return json.dumps({"node": node, "count": count, "names": names}, separators=(",", ":"), ensure_ascii=False)


def _decode(payload: str) -> tuple[str, int, Names]:
    """A node's report, held to the bounds a frame has (another node is trusted, not unbounded)."""
    report = json.loads(payload)
    node, count, names = report["node"], report["count"], report["names"]
    if not isinstance(node, str) or not isinstance(count, int) or count < 0 or not isinstance(names, list):
        raise ValueError("not a presence report")
    people = tuple((str(author), str(name)[:protocol.MAX_NAME_CHARS])
                   for author, name in names[:protocol.MAX_PRESENCE_NAMES])
    return node, count, people
