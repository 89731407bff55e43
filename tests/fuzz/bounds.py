"""How long the property tests of this folder run: the same examples every run (no saved
database, derandomized) and no per-example deadline, so they stay in make test's budget
and never fail on a slow machine."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

BOUNDED = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
