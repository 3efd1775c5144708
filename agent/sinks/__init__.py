"""Sinks: where spooled points go.

`build.build_sink` turns one `sinks:` entry into a `Sink` (`base.py`: the interface and its
errors). Nothing is imported here, so reading the sinks' settings (`settings.py`, part of every
configuration load) does not load aiohttp.
"""
