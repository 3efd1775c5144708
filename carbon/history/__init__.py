"""Historical data: past meter readings and grid intensity imported into the live pipeline's shape.

`sentinelle import` reads one meter's export (generic CSV, Enedis load curve or daily index,
line protocol of raw readings), stages it in a temporary SQLite table (sorted, de-duplicated,
validated before anything is written), runs the same energy maths as live data
(`carbon.energy`), tags the intervals like `carbon.processor` does, adds the `carbon` points and
writes them to the configured sinks. `sentinelle recompute` rewrites stored `carbon` points of a
period from the stored `energy` points with the factor table in use. See README.md here.
"""
