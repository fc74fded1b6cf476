"""Reconnect delays: exponential backoff with full jitter (a random wait in [0, window])."""

import random

BASE_SECONDS = 0.5
CAP_SECONDS = 20.0


def backoff_window(attempt, base=BASE_SECONDS, cap=CAP_SECONDS):
    """The longest wait before reconnect attempt `attempt` (0 for the first retry)."""
    return min(cap, base * (2 ** min(attempt, 16)))


def reconnect_delay(attempt, rng=random.random):
    return rng() * backoff_window(attempt)
