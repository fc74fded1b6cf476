"""Server-side limits, explicit and documented in the README. Those a client sees (text lengths,
page sizes, frame sizes) are part of the wire protocol: `imagechat.protocol`."""

# A viewer whose socket cannot keep up is dropped past this many unsent bytes; it reloads.
MAX_OUTBOX_BYTES_PER_SOCKET = 1024 * 1024
# Replays read the event log this many events at a time (one `batch` frame), as the socket drains.
REPLAY_PAGE_EVENTS = 25
CONCURRENT_REPLAY_READS = 2  # pages read at once by all the replays of a process
# `resume` requests of one socket (each may replay up to --replay-limit events); past them, reload.
RESUMES_PER_MINUTE = 5
RESUMES_BURST = 3
MAX_MARKERS_PER_IMAGE = 500
# Frames a client may send on one WebSocket: pings, subscribes and resumes (each resume reads the log).
WS_FRAMES_PER_SECOND = 10
WS_FRAMES_BURST = 30
