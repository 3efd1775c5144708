"""Retry delays, once for every part that retries: sinks (forwarder, history import) and the
MQTT reconnect loop.

Bounded exponential backoff with "equal jitter": after n consecutive failures the ceiling is
d = min(cap, base * 2^(n-1)) and the delay is drawn uniformly in [d/2, d]. The random half
keeps a fleet cut off together (one broker or one InfluxDB restarting) from retrying in
lockstep; the fixed half means a peer that keeps failing is never retried at once (full jitter,
[0, d], can draw ~0 s, so `reconnect_min` would not be a minimum and a refusing sink could be
hit twice in a row). A server's Retry-After is honoured, up to an hour.
"""

from __future__ import annotations

import random

RETRY_AFTER_CEILING = 3600.0  # never believe a Retry-After of more than an hour


def backoff_delay(failures: int, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before the next attempt after `failures` (>= 1) consecutive failures."""
    draw = rng or random
    ceiling = min(cap, base * (2 ** min(max(failures, 1) - 1, 30)))
    delay = draw.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CEILING))
    return delay


class Backoff:
    """The same delays for a loop that counts its own failures (the MQTT reconnect loop)."""

    def __init__(self, initial_s: float, maximum_s: float, rng: random.Random | None = None):
        self.initial_s = max(0.01, initial_s)
        self.maximum_s = max(self.initial_s, maximum_s)
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        self.attempt += 1
        return backoff_delay(self.attempt, self.initial_s, self.maximum_s, rng=self.rng)

    def reset(self) -> None:
        self.attempt = 0
