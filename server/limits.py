"""Input limits, explicit and documented in the README."""

MAX_COMMENT_CHARS = 2000
MAX_NAME_CHARS = 60
MAX_URL_ID_CHARS = 512
MAX_ID_CHARS = 64
MAX_BODY_BYTES = 16 * 1024
MAX_WS_MESSAGE_BYTES = 4 * 1024
# A viewer whose socket cannot keep up is dropped past this many unsent events; it reloads.
MAX_PENDING_FRAMES_PER_SOCKET = 256
MAX_MARKERS_PER_IMAGE = 500
MAX_COMMENTS_PER_THREAD = 500
# Frames a client may send on one WebSocket: pings, subscribes and resumes (each resume reads the log).
WS_FRAMES_PER_SECOND = 10
WS_FRAMES_BURST = 30
