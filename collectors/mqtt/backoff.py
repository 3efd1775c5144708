"""Reconnect delays: bounded exponential backoff with jitter.

Many agents behind one broker that restarts must not reconnect in lockstep, and a broker that
stays down must not be hammered: delay n is drawn in [d/2, d] with d = min(max, initial * 2^n).
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(self, initial_s: float, maximum_s: float, rng: Callable[[], float] = random.random):
        self.initial_s = max(0.01, initial_s)
        self.maximum_s = max(self.initial_s, maximum_s)
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum_s, self.initial_s * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return ceiling / 2 + self.rng() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
