"""Benchmarks; run them as modules, e.g. ``python -m bench.map_page`` (``make bench``)."""
