"""Bounded work per request: a deadline that CPU-heavy loops check, and admission of heavy
requests. Pure: no web framework, no store, so any layer may call ``check_deadline``.

**Deadlines.** ``deadline(seconds)`` sets, for the current request (a context variable, so
per thread and per request), the moment its work must be done by. Loops whose cost grows
with the input (the validator's walk, the checks over its nodes, ``_include`` rounds,
converting a reply to XML or R5, mapping and loading) call ``check_deadline()`` at their
checkpoints; past the moment it raises ``DeadlineExceeded``, which the API answers with a
503 OperationOutcome (code ``timeout``, ``Retry-After``). Without a deadline, as in the CLI
and in tests that set none, a checkpoint does nothing. Python cannot stop a thread from
outside, so a deadline is cooperative: it bounds what runs between two checkpoints, and
gunicorn's worker ``timeout`` stays the backstop for anything else.

Waiting for the store's write lock is ``paused()``: it does not count. A deadline never
undoes a write that committed: ``settle()`` (called by the store when a
write transaction commits) lifts the current deadline, so the reply that reports the write
is not replaced by a 503. A deadline passing inside the transaction raises there and the
transaction rolls back: nothing is half-written.

**Admission.** ``Admission(limit)`` lets at most ``limit`` heavy requests run at once in
this process and never queues one: ``admit()`` raises ``Overloaded`` at once when every
slot is taken. With gunicorn's gthread workers (threads per worker), a limit below the
thread count keeps threads free for the liveness probe and for light requests however many
heavy requests arrive. A request is heavy once its work is known to be large, which the
layer doing it finds out: that layer calls ``claim_heavy()``, and the request holds a slot
from then to its end (``request_bounds``); a second claim takes nothing more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class _Deadline:
    at: float  # time.monotonic() by which the work must be done
    seconds: float  # the budget, for the message


@dataclass
class _Request:
    admission: Admission | None
    stack: ExitStack = field(default_factory=ExitStack)
    holds_slot: bool = False


_current: ContextVar[_Deadline | None] = ContextVar("ped_deadline", default=None)
_admitted: ContextVar[bool] = ContextVar("ped_admitted", default=False)
_request: ContextVar[_Request | None] = ContextVar("ped_request_bounds", default=None)


class DeadlineExceeded(Exception):
    """The request's work passed its deadline; what it did so far is abandoned."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request did not finish within its deadline of {seconds:g} s")
        self.seconds = seconds


class Overloaded(Exception):
    """Every slot for heavy requests in this process is taken."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"all {limit} slots for heavy requests of this worker are busy")
        self.limit = limit


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Work inside the block must be done within ``seconds`` (None or 0: no deadline). An
    enclosing deadline that comes sooner stays in force."""
    if not seconds or seconds <= 0:
        yield
        return
    new = _Deadline(time.monotonic() + seconds, seconds)
    outer = _current.get()
    token = _current.set(new if outer is None or new.at < outer.at else outer)
    try:
        yield
    finally:
        _current.reset(token)


def check_deadline() -> None:
    """A checkpoint: raise ``DeadlineExceeded`` if the current deadline has passed. Costs a
    context-variable look-up and a clock read; call it once per item of a heavy loop."""
    current = _current.get()
    if current is not None and time.monotonic() > current.at:
        raise DeadlineExceeded(current.seconds)


def remaining() -> float | None:
    """Seconds left before the current deadline (negative once passed), or None."""
    current = _current.get()
    return None if current is None else current.at - time.monotonic()


@contextmanager
def paused() -> Iterator[None]:
    """Time spent inside the block does not count against the current deadline: waiting
    for a lock (a write waits for the one before it) is not work the deadline bounds."""
    began = time.monotonic()
    try:
        yield
    finally:
        current = _current.get()
        if current is not None:
            waited = time.monotonic() - began
            _current.set(_Deadline(current.at + waited, current.seconds))


@contextmanager
def lifted() -> Iterator[None]:
    """No deadline inside the block: work that must finish once begun (a small reply, an
    error's OperationOutcome)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def settle() -> None:
    """Lift the current deadline for the rest of the block that set it: the request's
    write has committed, and its reply must say so."""
    if _current.get() is not None:
        _current.set(None)


class Admission:
    """At most ``limit`` heavy requests at once; the next one is refused, never queued."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit of heavy requests must be at least 1")
        self.limit = limit
        self._lock = threading.Lock()
        self._busy = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if _admitted.get():  # this request holds a slot already
            yield
            return
        with self._lock:
            if self._busy >= self.limit:
                raise Overloaded(self.limit)
            self._busy += 1
        token = _admitted.set(True)
        try:
            yield
        finally:
            _admitted.reset(token)
            with self._lock:
                self._busy -= 1

    @property
    def busy(self) -> int:
        """Slots taken right now."""
        return self._busy


@contextmanager
def request_bounds(seconds: float | None, admission: Admission | None) -> Iterator[None]:
    """One request: its deadline, and the slot ``claim_heavy`` may take in ``admission``
    (given back when the block ends)."""
    bounds = _Request(admission)
    with bounds.stack, deadline(seconds):
        token = _request.set(bounds)
        try:
            yield
        finally:
            _request.reset(token)


def claim_heavy() -> None:
    """The current request's work is large: it holds one of the worker's heavy slots from
    now to its end, or ``Overloaded`` is raised. Outside a request (the CLI), or when the
    request holds one already, nothing happens."""
    bounds = _request.get()
    if bounds is None or bounds.admission is None or bounds.holds_slot:
        return
    bounds.stack.enter_context(bounds.admission.admit())
    bounds.holds_slot = True
