"""Batching of one image's live events, and the frames it makes (in process, real event loop).
Arrival times come from a clock the test moves: a rate is played without waiting for it."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.frames import Frame as WireFrame, Opcode
from websockets.streams import StreamReader

from tests.services import run
from imagechat.broker import Envelope
from imagechat.live.batching import Batcher, Frame


def event(seq: int, text: str = "") -> Envelope:
    return Envelope(seq, json.dumps({"type": "new-image-chat", "seq": seq, "text": text}, separators=(",", ":"), ensure_ascii=False))


def seqs(frame: Frame) -> list[int]:
    decoded = json.loads(frame.text)
    return [e["seq"] for e in decoded["events"]] if decoded["type"] == "batch" else [decoded["seq"]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_batcher(window: float, max_events: int = 50, clock: Clock | None = None) -> tuple[Batcher, list[Frame]]:
    """Inside a running loop: a batcher and the frames it emits."""
    frames: list[Frame] = []
    return Batcher(window, max_events, frames.append, clock), frames


async def play(batcher: Batcher, clock: Clock, gaps: list[float], first_seq: int = 1) -> None:
    """One event after each gap (seconds, in the clock's time), each in a turn of the loop of its own."""
    for seq, gap in enumerate(gaps, first_seq):
        clock.now += gap
        batcher.add(event(seq))
        await next_turn()


async def next_turn() -> None:
    """Let the loop finish this turn (and run what was scheduled for its end)."""
    await asyncio.sleep(0)


def test_events_of_one_loop_turn_share_one_frame_sent_at_the_end_of_that_turn():
    async def body() -> None:
        batcher, frames = new_batcher(0)
        for seq in (1, 2, 3):  # as a group commit publishes its changes: in one go
            batcher.add(event(seq))
        assert frames == []  # not yet: the turn goes on
        await next_turn()
        assert [seqs(frame) for frame in frames] == [[1, 2, 3]]
        assert json.loads(frames[0].text)["type"] == "batch"

    run(body())


def test_without_a_window_events_of_different_turns_go_alone_however_close():
    async def body() -> None:
        clock = Clock()
        batcher, frames = new_batcher(0, clock=clock)
        await play(batcher, clock, [0, 0.001, 0.001, 0.001])
        assert [seqs(frame) for frame in frames] == [[1], [2], [3], [4]]
        assert json.loads(frames[0].text)["type"] == "new-image-chat"  # a lone event is itself

    run(body())


def test_an_image_that_is_not_busy_is_never_held_by_a_window():
    async def body() -> None:
        clock = Clock()
        batcher, frames = new_batcher(0.05, clock=clock)
        # 20 events a second (one per window), with the jitter of a real writer: two of them may
        # come together; never three within one window.
        await play(batcher, clock, [0.05, 0.05, 0.08, 0.02, 0.05, 0.03, 0.07, 0.05, 0.01, 0.09])
        assert [seqs(frame) for frame in frames] == [[seq] for seq in range(1, 11)]  # no wait, no batch

    run(body())


def test_a_busy_image_holds_events_from_its_third_within_a_window_until_the_window_ends():
    async def body() -> None:
        clock, frames, flushed = Clock(), [], asyncio.Event()

        def emit(frame: Frame) -> None:
            frames.append(frame)
            flushed.set()

        batcher = Batcher(0.05, 50, emit, clock)
        await play(batcher, clock, [0, 0.001, 0.001, 0.001, 0.001])
        assert [seqs(frame) for frame in frames] == [[1], [2]]  # two at once: not busy yet
        flushed.clear()
        await asyncio.wait_for(flushed.wait(), timeout=5)  # the window's timer
        assert [seqs(frame) for frame in frames] == [[1], [2], [3, 4, 5]]
        assert json.loads(frames[2].text)["type"] == "batch"

    run(body())


def test_a_busy_image_sends_at_most_one_frame_per_window_and_is_quick_again_once_it_calms_down():
    async def body() -> None:
        clock = Clock()
        batcher, frames = new_batcher(0.05, clock=clock)
        await play(batcher, clock, [0, 0.001, 0.001])  # busy: 3 waits for the window
        clock.now += 0.05
        batcher.flush()  # what the window's timer does
        await play(batcher, clock, [0.001], first_seq=4)  # within a window of the last frame: waits
        clock.now += 0.05
        batcher.flush()
        assert [seqs(frame) for frame in frames] == [[1], [2], [3], [4]]
        await play(batcher, clock, [0.1, 0.05, 0.05], first_seq=5)  # calm again: each at once
        assert [seqs(frame) for frame in frames][4:] == [[5], [6], [7]]
        batcher.cancel()

    run(body())


def test_a_full_batch_goes_at_once():
    async def body() -> None:
        batcher, frames = new_batcher(30, max_events=3)
        for seq in range(1, 9):
            batcher.add(event(seq))
        # Each 3 as soon as they are there; 7 and 8 (a busy image by then) wait for the 30 s window.
        assert [seqs(frame) for frame in frames] == [[1, 2, 3], [4, 5, 6]]
        await next_turn()
        assert len(frames) == 2
        batcher.cancel()

    run(body())


def test_cancel_forgets_the_flush_to_come():
    async def body() -> None:
        batcher, frames = new_batcher(0)
        batcher.add(event(1))
        batcher.cancel()
        await next_turn()
        assert frames == []

    run(body())


def test_a_frame_on_the_wire_is_an_unmasked_text_frame_built_once():
    frame = Frame.of([event(1, "é€" * 100)])
    reader = StreamReader()
    reader.feed_data(frame.wire)
    with pytest.raises(StopIteration) as parsed_whole:  # the parser needs no more bytes
        next(WireFrame.parse(reader.read_exact, mask=False))
    parsed = parsed_whole.value.value
    assert (parsed.opcode, parsed.fin, parsed.data) == (Opcode.TEXT, True, frame.text.encode())
    assert frame.wire is frame.wire  # built once, for every socket


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
