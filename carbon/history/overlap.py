"""One meter's intervals from several origins, without counting any time twice.

Live and imported intervals of a meter can overlap (an import of a device's own export over a
period the agent also polled, or live data delivered after an import). Energy is additive only
over disjoint time, so for each stretch of time the best interval wins and the others keep
only their parts outside it (energy prorated by time, as `carbon.energy.clip` does).

Rank, best first: `measured`, `integrated` (the agent's own readings: the method the
uncertainty is declared for), `imported`, then `estimated`, `missing` (a gap filled by
either side is beaten by any real data). Equal ranks: the earlier-starting interval wins, so
the result does not depend on the order the store returns points in.

`resolve` is meant for the report's aggregation (per meter, before `coverage`); it is exact
for non-overlapping input (returns it unchanged) and linear after sorting.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from sentinelle.carbon.energy import EnergyInterval, clip

RANK = {"measured": 0, "integrated": 1, "imported": 2, "estimated": 3, "missing": 4}


def resolve(intervals: Iterable[EnergyInterval]) -> list[EnergyInterval]:
    """Disjoint intervals, best rank first where they overlap (see the module docstring)."""
    ivs = sorted(intervals, key=lambda iv: (iv.start_ns, iv.end_ns))
    if all(a.end_ns <= b.start_ns for a, b in zip(ivs, ivs[1:], strict=False)):
        return ivs
    # Sweep the boundaries; each elementary segment goes to the best active interval.
    bounds = sorted({t for iv in ivs for t in (iv.start_ns, iv.end_ns)})
    active: list[tuple[int, int, int, int]] = []  # (rank, start, end, index)
    pieces: dict[int, list[list[int]]] = {}
    nxt = 0
    for a, b in zip(bounds, bounds[1:], strict=False):
        while nxt < len(ivs) and ivs[nxt].start_ns <= a:
            iv = ivs[nxt]
            heapq.heappush(active, (RANK.get(iv.method, 5), iv.start_ns, iv.end_ns, nxt))
            nxt += 1
        while active and active[0][2] <= a:
            heapq.heappop(active)
        if not active:
            continue
        best = active[0][3]
        spans = pieces.setdefault(best, [])
        if spans and spans[-1][1] == a:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    out = []
    for index, spans in pieces.items():
        for s, e in spans:
            part = clip(ivs[index], s, e)
            if part is not None:
                out.append(part)
    return sorted(out, key=lambda iv: (iv.start_ns, iv.end_ns))
