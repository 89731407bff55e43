"""Bounded work per request: the deadline (``FLASK_REQUEST_DEADLINE``), admission of heavy
requests (``FLASK_HEAVY_REQUESTS``) and the render cache's byte bound (the gunicorn side:
``test_gunicorn_conf.py``). No test here measures time: a deadline that has already passed
(a budget of a nanosecond) is exceeded at the first checkpoint, and work is counted."""

from __future__ import annotations

import copy
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service import ConfigError, deadlines
from service.api import rendering
from service.api.admission import EXTENSION
from service.api.rendering import ByteBoundedLRU
from service.deadlines import Admission, DeadlineExceeded, Overloaded
from service.loading import StoreReferences
from service.storage import get_store
from service.store import includes
from tests.conftest import FIXTURES
from tests.support.plans import renamed
from tests.support.servers import TOKEN, make_app

PASSED = 1e-9  # seconds: gone by the first checkpoint
PAGE = FIXTURES / "pages" / "all-induction.txt"
INTRO_SENTENCE = "Induction treatment is also called remission induction therapy."
ITERATE = (
    "/fhir/PlanDefinition?_include=PlanDefinition:definition"
    "&_include:iterate=ActivityDefinition:product"
)
LARGE_XML = "/fhir/PlanDefinition?_include=PlanDefinition:definition&_format=xml"


def fixture_plan() -> dict[str, Any]:
    bundle = json.loads((FIXTURES / "fhir" / "all-induction.json").read_text("utf-8"))
    plan: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "PlanDefinition"
    )
    return plan


def big_plan(copies: int) -> dict[str, Any]:
    """The fixture plan with its action tree ``copies`` times (fresh action ids)."""
    plan = copy.deepcopy(fixture_plan())
    top = plan["action"][0]
    plan["action"] = [renamed(top, f"-c{n}") for n in range(copies)]
    return plan


def validate(client: FlaskClient, resource: dict[str, Any]) -> TestResponse:
    return client.post(
        "/fhir/PlanDefinition/$validate",
        data=json.dumps(resource),
        content_type="application/fhir+json",
    )


def assert_503(response: TestResponse, code: str) -> dict[str, Any]:
    assert response.status_code == 503, response.data
    outcome: dict[str, Any] = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [issue["code"] for issue in outcome["issue"]] == [code]
    assert int(response.headers["Retry-After"]) > 0
    return outcome


@pytest.fixture(scope="module")
def plan_200k() -> dict[str, Any]:
    plan = big_plan(14)
    assert len(json.dumps(plan)) > 200_000
    return plan


@pytest.fixture
def passed_app(loaded_database: Path) -> Flask:
    """The loaded store, every /fhir request's deadline already gone."""
    return make_app(loaded_database, REQUEST_DEADLINE=PASSED)


@pytest.fixture
def writable_passed_app(loaded_database: Path, tmp_path: Path) -> Flask:
    database = tmp_path / "store.sqlite3"
    shutil.copyfile(loaded_database, database)
    return make_app(database, REQUEST_DEADLINE=PASSED)


# --- the deadline ------------------------------------------------------------------------


def test_validate_past_its_deadline_is_503_timeout(
    passed_app: Flask, client: FlaskClient, plan_200k: dict[str, Any]
) -> None:
    outcome = assert_503(validate(passed_app.test_client(), plan_200k), "timeout")
    assert "deadline" in outcome["issue"][0]["diagnostics"]
    # The same resource within the default deadline is validated (control).
    found = validate(client, plan_200k)
    assert found.status_code == 200
    assert found.get_json()["issue"][0]["diagnostics"] == "no problems found"


def test_the_deadline_is_checked_per_element_of_the_input(
    monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    """Checkpoints sit in the walk and the checks, not around them: each copy of the
    action tree adds the same number of checkpoints, at least one per action."""
    from service.validation import validate as run

    calls = 0
    real = deadlines.time.monotonic

    class CountingClock:
        @staticmethod
        def monotonic() -> float:
            nonlocal calls
            calls += 1
            return real()

    monkeypatch.setattr(deadlines, "time", CountingClock)
    counted = []
    for copies in (1, 2, 3):
        calls = 0
        with app.app_context(), deadlines.deadline(3600):
            issues = run(big_plan(copies), references=_references(app))
        assert [i.message for i in issues] == []
        counted.append(calls)
    per_copy = counted[1] - counted[0]
    assert counted[2] - counted[1] == per_copy
    assert per_copy > 49  # the tree has 49 actions, each with several elements


def test_validation_looks_each_distinct_reference_up_once(
    monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    """A 1.9 MB plan names its 30 activities 3,900 times: one store query each made
    references 65 % of $validate's time. Three copies of the tree cost the look-ups of one."""
    from service import loading as endpoint
    from service.validation import validate as run

    looked_up: list[set[str]] = []
    resolve = endpoint.resolve_canonicals

    def counting(store: Any, targets: Any, canonicals: set[str]) -> Any:
        looked_up.append(canonicals)
        return resolve(store, targets, canonicals)

    monkeypatch.setattr(endpoint, "resolve_canonicals", counting)
    plan = big_plan(3)
    written = [a["definitionCanonical"] for a in _actions(plan["action"])
               if "definitionCanonical" in a]  # fmt: skip
    assert len(written) == 3 * len(set(written))
    with app.app_context():
        issues = run(plan, references=_references(app))
    assert issues == []
    assert sorted(c for canonicals in looked_up for c in canonicals) == sorted(set(written))


def _references(app: Flask) -> StoreReferences:
    """What $validate resolves with: the store, and our served conformance resources."""
    served = (app.config["CANONICAL_BASE"], app.config["ARTIFACT_VERSION"])
    return StoreReferences(get_store(), served=served)


def _actions(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for action in actions:
        yield action
        yield from _actions(action.get("action", []))


def test_import_past_its_deadline_writes_nothing(writable_passed_app: Flask) -> None:
    """The deadline passes after the first chunk is written, inside the transaction: it
    rolls back, so the plan stays at version 1."""
    client = writable_passed_app.test_client()
    changed = PAGE.read_text("utf-8").replace(INTRO_SENTENCE, "Induction comes first.")
    response = client.post(
        "/fhir/$import",
        data=changed.encode(),
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"},
    )
    assert_503(response, "timeout")
    store = get_store_of(writable_passed_app)
    stored = store.read("PlanDefinition", "all-induction")
    assert stored is not None
    assert stored.version_id == 1
    assert (
        store.history("PlanDefinition", "all-induction", since=None, count=10, offset=0).total == 1
    )
    # Within a deadline the same body is imported (control): version 2.
    within = make_app(store_path(writable_passed_app))
    response = within.test_client().post(
        "/fhir/$import",
        data=changed.encode(),
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200, response.data
    assert get_store_of(within).read("PlanDefinition", "all-induction").version_id == 2  # type: ignore[union-attr]


def get_store_of(app: Flask) -> Any:
    with app.app_context():
        return get_store()


def store_path(app: Flask) -> str:
    return str(app.config["DATABASE_URL"])


def test_an_include_iterate_search_past_its_deadline_is_503(
    passed_app: Flask, client: FlaskClient
) -> None:
    assert_503(passed_app.test_client().get(ITERATE), "timeout")
    assert client.get(ITERATE).status_code == 200


def test_a_large_xml_reply_past_its_deadline_is_503(passed_app: Flask) -> None:
    response = passed_app.test_client().get(LARGE_XML)
    assert response.status_code == 503
    assert response.mimetype == "application/fhir+xml"  # the error in the client's format
    assert b'<code value="timeout"/>' in response.data


def test_small_replies_and_errors_go_out_whatever_the_deadline(passed_app: Flask) -> None:
    client = passed_app.test_client()
    read = client.get("/fhir/PlanDefinition/all-induction?_format=xml")
    assert read.status_code == 200
    assert read.data.startswith(b"<?xml")
    missing = client.get("/fhir/PlanDefinition/nothing-here?_format=xml")
    assert missing.status_code == 404
    assert b"OperationOutcome" in missing.data
    assert client.get("/healthz").status_code == 200


def test_a_committed_write_lifts_the_deadline() -> None:
    with deadlines.deadline(PASSED):
        with pytest.raises(DeadlineExceeded):
            deadlines.check_deadline()
        deadlines.settle()
        deadlines.check_deadline()  # nothing left to enforce
    with deadlines.deadline(PASSED), deadlines.lifted():
        deadlines.check_deadline()
    assert deadlines.remaining() is None


def test_waiting_for_the_write_lock_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"now": 0.0}

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return clock["now"]

    monkeypatch.setattr(deadlines, "time", Clock)
    with deadlines.deadline(10):
        clock["now"] = 4
        with deadlines.paused():  # as Store's write waits for the lock
            clock["now"] = 104
        clock["now"] = 109.5
        deadlines.check_deadline()  # 9.5 s of work
        clock["now"] = 110.5
        with pytest.raises(DeadlineExceeded):
            deadlines.check_deadline()


def test_an_inner_deadline_never_extends_an_outer_one() -> None:
    with deadlines.deadline(PASSED), deadlines.deadline(3600):
        with pytest.raises(DeadlineExceeded):
            deadlines.check_deadline()
    with deadlines.deadline(3600), deadlines.deadline(PASSED):
        with pytest.raises(DeadlineExceeded):
            deadlines.check_deadline()
    deadlines.check_deadline()  # none outside


@pytest.mark.parametrize(
    ("name", "value"),
    [("REQUEST_DEADLINE", "soon"), ("REQUEST_DEADLINE", -1), ("HEAVY_REQUESTS", 0),
     ("HEAVY_REQUESTS", 1.5)],
)  # fmt: skip
def test_bad_settings_fail_at_start_up(loaded_database: Path, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{name}="):
        make_app(loaded_database, **{name: value})


# --- admission of heavy requests -----------------------------------------------------------


class Holders:
    """Threads that each hold one heavy slot until released."""

    def __init__(self, admission: Admission, count: int) -> None:
        self.release = threading.Event()
        self.entered = threading.Barrier(count + 1)
        self.threads = [
            threading.Thread(target=self._hold, args=(admission,)) for _ in range(count)
        ]
        for thread in self.threads:
            thread.start()
        self.entered.wait()

    def _hold(self, admission: Admission) -> None:
        with admission.admit():
            self.entered.wait()
            self.release.wait()

    def stop(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join()


@pytest.fixture
def two_slots(loaded_database: Path) -> Iterator[tuple[Flask, Admission, Holders]]:
    app = make_app(loaded_database, HEAVY_REQUESTS=2)
    admission: Admission = app.extensions[EXTENSION]
    holders = Holders(admission, 2)
    try:
        yield app, admission, holders
    finally:
        holders.stop()


def test_a_heavy_request_over_the_limit_is_503_at_once(
    two_slots: tuple[Flask, Admission, Holders],
    plan_200k: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both slots are held by other threads: the next heavy request is refused without
    waiting (were it queued, this test would never finish); light ones are served."""
    app, admission, holders = two_slots
    client = app.test_client()
    assert admission.busy == 2
    assert_503(validate(client, plan_200k), "throttled")  # a body over 64 kB
    # A reply found large only once built needs a slot to be converted to XML.
    xml = client.get(LARGE_XML)
    assert xml.status_code == 503
    assert b'<code value="throttled"/>' in xml.data
    # Light requests and the probes are served: a small resource to validate, includes of
    # a few dozen resources, a package of the fixture plan, a small XML reply.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert validate(client, fixture_plan()).status_code == 200
    assert client.get(ITERATE).status_code == 200
    assert client.get("/fhir/PlanDefinition/all-induction/$package").status_code == 200
    assert client.get("/fhir/PlanDefinition/all-induction").status_code == 200
    assert client.get("/fhir/PlanDefinition/all-induction?_format=xml").status_code == 200
    # Includes that reach more resources in one round than the threshold are heavy.
    monkeypatch.setattr(includes, "HEAVY_FRONTIER", 10)
    assert_503(client.get(ITERATE), "throttled")
    assert_503(client.get("/fhir/PlanDefinition/all-induction/$package"), "throttled")
    # An import needs the token and queues on the write lock instead (nothing changes here).
    imported = client.post(
        "/fhir/$import",
        data=PAGE.read_bytes(),
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"},
    )
    assert imported.status_code == 200, imported.data
    assert admission.busy == 2, "refused requests took no slot"
    holders.stop()
    assert admission.busy == 0
    assert validate(client, plan_200k).status_code == 200
    assert client.get(LARGE_XML).status_code == 200
    assert client.get(ITERATE).status_code == 200
    assert admission.busy == 0, "every request gave its slot back"


def test_a_slot_is_given_back_when_the_request_fails(
    loaded_database: Path, plan_200k: dict[str, Any]
) -> None:
    app = make_app(loaded_database, HEAVY_REQUESTS=1, REQUEST_DEADLINE=PASSED)
    admission: Admission = app.extensions[EXTENSION]
    client = app.test_client()
    assert_503(validate(client, plan_200k), "timeout")  # heavy: it took the slot first
    response = client.post(
        "/fhir/PlanDefinition/$validate", data=b"{", content_type="application/fhir+json"
    )
    assert response.status_code == 400
    assert admission.busy == 0


def test_a_request_holding_a_slot_does_not_take_a_second() -> None:
    admission = Admission(1)
    with admission.admit(), admission.admit():
        assert admission.busy == 1
    assert admission.busy == 0
    with deadlines.request_bounds(None, admission):
        deadlines.claim_heavy()
        deadlines.claim_heavy()  # a large search whose reply is then large too
        assert admission.busy == 1
    assert admission.busy == 0
    deadlines.claim_heavy()  # outside a request (the CLI): nothing to take
    assert admission.busy == 0
    with admission.admit():
        done = threading.Event()
        refused: list[BaseException] = []

        def other() -> None:
            try:
                with admission.admit():
                    pass
            except Overloaded as e:
                refused.append(e)
            done.set()

        threading.Thread(target=other).start()
        done.wait()
        assert len(refused) == 1


# --- the render cache ------------------------------------------------------------------------


def test_the_cache_is_bounded_by_bytes_least_recently_used_out() -> None:
    cache = ByteBoundedLRU(1000, overhead=0)
    cache.put((b"a", "xml", "4.0.1"), b"x" * 400)
    cache.put((b"b", "xml", "4.0.1"), b"x" * 400)
    assert cache.get((b"a", "xml", "4.0.1")) is not None  # a is now the most recent
    cache.put((b"c", "xml", "4.0.1"), b"x" * 400)  # 1,200 bytes: b goes
    assert cache.bytes == 800
    assert cache.get((b"b", "xml", "4.0.1")) is None
    assert cache.get((b"a", "xml", "4.0.1")) is not None
    cache.put((b"d", "xml", "4.0.1"), b"x" * 1001)  # larger than the whole cache: not kept
    assert cache.bytes == 800
    assert len(cache) == 2
    cache.put((b"a", "xml", "4.0.1"), b"x" * 100)  # replaced: counted once
    assert cache.bytes == 500


def test_renderings_are_cached_within_the_byte_bound(
    monkeypatch: pytest.MonkeyPatch, client: FlaskClient
) -> None:
    """Every fixture resource as XML: the cache keeps what fits in its bytes (counted from
    what it holds), and a second read of a cached one converts nothing."""
    bound = 16_000
    small = ByteBoundedLRU(bound)
    monkeypatch.setattr(rendering, "_cache", small)
    conversions = 0
    convert = rendering._convert

    def counting(body: bytes, format_name: str, release: Any) -> bytes:
        nonlocal conversions
        conversions += 1
        return convert(body, format_name, release)

    monkeypatch.setattr(rendering, "_convert", counting)
    paths = [
        f"/fhir/{e['resource']['resourceType']}/{e['resource']['id']}?_format=xml"
        for e in json.loads((FIXTURES / "fhir" / "all-induction.json").read_text("utf-8"))["entry"]
    ]
    sizes = [len(client.get(path).data) for path in paths]
    assert sum(sizes) > 2 * bound, "the replies are more than the cache holds"
    assert conversions == len(paths)
    assert small.bytes <= bound
    assert small.bytes == sum(len(v) + small.overhead for v in small._entries.values())
    assert 0 < len(small) < len(paths)
    conversions = 0
    assert client.get(paths[-1]).status_code == 200  # the most recent: still cached
    assert conversions == 0
