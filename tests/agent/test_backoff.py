"""agent/backoff.py: the one retry-delay rule shared by the sinks and the MQTT reconnect loop."""

from __future__ import annotations

import random

from sentinelle.agent.backoff import Backoff, backoff_delay


def test_delay_stays_within_half_to_full_ceiling_and_is_capped() -> None:
    rng = random.Random(4)
    for failures in range(1, 40):
        ceiling = min(8.0, 1.0 * 2 ** (failures - 1))
        for _ in range(50):
            delay = backoff_delay(failures, 1.0, 8.0, None, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_draws_are_spread_so_a_fleet_does_not_retry_in_lockstep() -> None:
    rng = random.Random(9)
    draws = {round(backoff_delay(5, 1.0, 60.0, None, rng), 3) for _ in range(100)}
    assert len(draws) > 50


def test_retry_after_is_honoured_up_to_an_hour() -> None:
    rng = random.Random(2)
    assert backoff_delay(1, 1.0, 8.0, 120.0, rng) == 120.0
    assert backoff_delay(1, 1.0, 8.0, 10 * 86400.0, rng) == 3600.0


def test_reconnect_loop_grows_to_its_cap_and_reset_starts_over() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(3))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0.5 <= d <= 60.0 for d in delays) and min(delays[6:]) >= 30.0
    backoff.reset()
    assert backoff.next_delay() <= 1.0
