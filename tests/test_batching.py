"""Batching of one image's live events, and the frames it makes (in process, real event loop)."""

from __future__ import annotations

import asyncio
import json

from tests.services import run
from imagechat.broker import Envelope
from imagechat.live.batching import Batcher, Frame


def event(seq: int, text: str = "") -> Envelope:
    return Envelope(seq, json.dumps({"type": "new-image-chat", "seq": seq, "text": text}, separators=(",", ":"), ensure_ascii=False))


def seqs(frame: Frame) -> list[int]:
    decoded = json.loads(frame.text)
    return [e["seq"] for e in decoded["events"]] if decoded["type"] == "batch" else [decoded["seq"]]


def new_batcher(window: float, max_events: int = 50) -> tuple[Batcher, list[Frame]]:
    """Inside a running loop: a batcher and the frames it emits."""
    frames: list[Frame] = []
    return Batcher(window, max_events, frames.append), frames


def test_without_a_window_every_event_goes_alone_at_once():
    async def body() -> None:
        batcher, frames = new_batcher(0)
        for seq in (1, 2, 3):
            batcher.add(event(seq))
        assert [seqs(frame) for frame in frames] == [[1], [2], [3]]

    run(body())


def test_the_first_event_after_a_quiet_spell_goes_at_once_and_followers_wait_for_the_window():
    async def body() -> None:
        batcher, frames = new_batcher(0.2)
        batcher.add(event(1))
        assert [seqs(frame) for frame in frames] == [[1]]  # no added delay when quiet
        batcher.add(event(2))
        batcher.add(event(3))
        assert len(frames) == 1  # within the window: waiting
        await asyncio.sleep(0.3)
        assert [seqs(frame) for frame in frames] == [[1], [2, 3]]
        assert json.loads(frames[1].text)["type"] == "batch"

    run(body())


def test_a_full_batch_goes_before_its_window_ends():
    async def body() -> None:
        batcher, frames = new_batcher(30, max_events=3)
        for seq in range(1, 8):
            batcher.add(event(seq))
        # 1 at once, then each 3 as soon as they waited: the 30 s window never ran out.
        assert [seqs(frame) for frame in frames] == [[1], [2, 3, 4], [5, 6, 7]]
        batcher.cancel()

    run(body())


def test_cancel_stops_the_window():
    async def body() -> None:
        batcher, frames = new_batcher(0.05)
        batcher.add(event(1))
        batcher.add(event(2))
        batcher.cancel()
        await asyncio.sleep(0.1)
        assert [seqs(frame) for frame in frames] == [[1]]

    run(body())


def test_a_frame_is_measured_in_utf8_bytes_once():
    frame = Frame.of([event(1, "é€")])
    assert frame.size == len(frame.text.encode()) > len(frame.text)
    assert frame.events == (event(1, "é€"),)


def test_a_frame_after_a_seq_keeps_only_the_later_events_without_parsing_json():
    batch = Frame.of([event(4), event(5), event(6)])
    assert batch.after(3) is batch  # nothing replayed yet: the same frame
    assert batch.after(6) is None  # all replayed
    assert seqs(batch.after(4)) == [5, 6]
    alone = batch.after(5)
    assert alone is not None and alone.text == event(6).payload  # one left: not a batch


def test_a_control_frame_is_kept_whatever_was_replayed():
    heartbeat = Frame('{"type":"heartbeat"}')
    assert heartbeat.after(10**9) is heartbeat
