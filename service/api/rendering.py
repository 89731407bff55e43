"""Reply bodies in the negotiated format and FHIR version.

Views produce R4 JSON (stored bytes, spliced Bundles). This is the one place that turns it
into FHIR XML or R5; R4 JSON goes out as it is, without being parsed.

Conversions are cached (a read of a popular resource in XML or R5 should not convert it
every time) in a cache bounded by bytes, not by entries: ``CACHE_BYTES`` per worker
process, least recently used out first. Bodies over ``CACHED_BODY_LIMIT`` are never
cached. Converting a body of more than ``LARGE_REPLY`` bytes is heavy work: it needs one
of the worker's slots for heavy requests (``admission``), and it stops at the request's
deadline; a smaller one is converted whatever the deadline.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

from werkzeug.exceptions import NotAcceptable

from service.deadlines import check_deadline, claim_heavy, lifted
from service.formats.r5 import ConversionError, to_r5
from service.formats.xml import Release, loads_exact, to_xml

from .negotiation import Negotiated

CACHE_BYTES = 32 * 1024 * 1024
CACHED_BODY_LIMIT = 256 * 1024
LARGE_REPLY = 64 * 1024  # about 0.2 s of CPU to write as XML

_Key = tuple[bytes, str, str]


class ByteBoundedLRU:
    """A thread-safe LRU mapping whose values' sizes (``len``) add up to at most
    ``max_bytes``; each entry also counts ``overhead`` bytes for its key and bookkeeping."""

    def __init__(self, max_bytes: int, overhead: int = 128) -> None:
        self.max_bytes = max_bytes
        self.overhead = overhead
        self.bytes = 0
        self._entries: OrderedDict[_Key, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _size(self, value: bytes) -> int:
        return len(value) + self.overhead

    def get(self, key: _Key) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: _Key, value: bytes) -> None:
        size = self._size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= self._size(old)
            self._entries[key] = value
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= self._size(evicted)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


_cache = ByteBoundedLRU(CACHE_BYTES)


def render(body: bytes, negotiated: Negotiated) -> bytes:
    if negotiated.is_default:
        return body
    release: Release = "5.0.0" if negotiated.fhir_version == "5.0.0" else "4.0.1"
    format_name = negotiated.format.name
    key: _Key | None = None
    if len(body) <= CACHED_BODY_LIMIT:
        # A digest, not the body, as the key: the body would count twice.
        key = (hashlib.sha256(body).digest(), format_name, release)
        cached = _cache.get(key)
        if cached is not None:
            return cached
    if len(body) > LARGE_REPLY:
        claim_heavy()  # heavy work: one of the worker's slots (Overloaded: a 503)
        converted = _convert(body, format_name, release)
    else:
        # Little work, and the reply must go out (an error's OperationOutcome among them):
        # converted whatever the deadline.
        with lifted():
            converted = _convert(body, format_name, release)
    if key is not None:
        _cache.put(key, converted)
    return converted


def _convert(body: bytes, format_name: str, release: Release) -> bytes:
    check_deadline()
    # XML keeps numbers as written; R5 JSON is re-serialized, so numbers go through float.
    resource = loads_exact(body) if format_name == "xml" else json.loads(body)
    if release == "5.0.0":
        try:
            resource = to_r5(resource)
        except ConversionError as e:
            raise NotAcceptable(f"this content cannot be given as FHIR R5: {e}") from None
        check_deadline()
    if format_name == "xml":
        return to_xml(resource, release)  # checks the deadline as it goes
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
