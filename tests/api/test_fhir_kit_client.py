"""fhir-kit-client (node) against a live gunicorn server: create, read, update, an update
with a stale ``If-Match`` (412), delete then read (410), and a transaction (issue 16, item 6).

tests/api/clients/fhir_kit.mjs makes the calls, one step each, and prints what each step was
answered; every test here asserts on one step, so a failure names the interaction. The
server is gunicorn over a private copy of the loaded store, so nothing written here is seen
by the read-only live-server tests. The bodies come from our fixtures.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import FIXTURES, ROOT
from tests.support.servers import TOKEN, gunicorn

from .test_contract import without_meta

Resource = dict[str, Any]
Step = dict[str, Any]

DRIVER = ROOT / "tests" / "api" / "clients" / "fhir_kit.mjs"
TIMEOUT = 120.0
PUT_ID = "fhir-kit-transaction"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# mercaptopurine's code: one Medication in the fixtures has it, and nothing here writes one.
SYSTEM_SEARCH = {"_type": "Medication", "code": f"{RXNORM}|103"}


def _fixture_medication(medication_id: str) -> Resource:
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        for entry in json.loads(path.read_text("utf-8"))["entry"]:
            resource: Resource = entry["resource"]
            if resource["resourceType"] == "Medication" and resource["id"] == medication_id:
                return resource
    raise LookupError(medication_id)


def _medication() -> Resource:
    """A Medication we emit, without its id (a create gets one from the server)."""
    body = copy.deepcopy(_fixture_medication("imatinib"))
    del body["id"]
    return body


def _transaction() -> Resource:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b8f2d6e-4a57-4f0e-9f36-2f1c6f7a9e01",
                "resource": _medication(),
                "request": {"method": "POST", "url": "Medication"},
            },
            {
                "fullUrl": f"Medication/{PUT_ID}",
                "resource": {**_medication(), "id": PUT_ID},
                "request": {"method": "PUT", "url": f"Medication/{PUT_ID}"},
            },
        ],
    }


@pytest.fixture(scope="module")
def server(loaded_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("fhir-kit") / "store.sqlite3"
    shutil.copyfile(loaded_database, database)
    with gunicorn(database, workers=1) as port:
        yield f"http://127.0.0.1:{port}/fhir"


@pytest.fixture(scope="module")
def steps(server: str) -> dict[str, Step]:
    node = shutil.which("node")
    assert node is not None, "node is needed for the fhir-kit-client test"
    stdin = {
        "baseUrl": server,
        "token": TOKEN,
        "medication": _medication(),
        "transaction": _transaction(),
        "systemSearch": SYSTEM_SEARCH,
    }
    run = subprocess.run(
        [node, str(DRIVER)],
        input=json.dumps(stdin),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    found: dict[str, Step] = json.loads(run.stdout)
    return found


def _ok(step: Step, status: int) -> Resource:
    assert step["ok"], step
    assert step["status"] == status, step
    body: Resource = step["body"]
    return body


def _refused(step: Step, status: int) -> Resource:
    assert not step["ok"], step
    assert step["status"] == status, step
    outcome: Resource = step["body"]
    assert outcome["resourceType"] == "OperationOutcome", outcome
    assert any(i["severity"] in ("error", "fatal") for i in outcome["issue"]), outcome
    return outcome


def test_create(steps: dict[str, Step]) -> None:
    created = _ok(steps["create"], 201)
    assert created["id"]
    assert created["meta"]["versionId"] == "1"
    assert without_meta(created) == {**_medication(), "id": created["id"]}
    assert steps["create"]["etag"] == 'W/"1"'
    assert steps["create"]["location"].endswith(f"/Medication/{created['id']}/_history/1")


def test_read(steps: dict[str, Step]) -> None:
    read = _ok(steps["read"], 200)
    assert read["meta"]["versionId"] == "1"
    assert without_meta(read) == {**_medication(), "id": read["id"]}


def test_update_with_the_current_version(steps: dict[str, Step]) -> None:
    updated = _ok(steps["update"], 200)
    assert updated["meta"]["versionId"] == "2"
    assert updated["status"] == "inactive"
    assert steps["update"]["etag"] == 'W/"2"'


def test_update_with_a_stale_version_is_412_and_writes_nothing(steps: dict[str, Step]) -> None:
    _refused(steps["staleUpdate"], 412)
    after = _ok(steps["readAfterStale"], 200)
    assert after["meta"]["versionId"] == "2"
    assert after["status"] == "inactive"


def test_json_patch(steps: dict[str, Step]) -> None:
    patched = _ok(steps["patch"], 200)
    assert patched["meta"]["versionId"] == "3"
    assert patched["status"] == "active"
    assert without_meta(patched) == {**_medication(), "id": patched["id"]}


def test_delete_then_read_is_410_and_the_versions_stay(steps: dict[str, Step]) -> None:
    assert steps["delete"]["ok"], steps["delete"]
    assert steps["delete"]["status"] in {200, 204}, steps["delete"]
    _refused(steps["readAfterDelete"], 410)
    kept = _ok(steps["vreadAfterDelete"], 200)
    assert kept["meta"]["versionId"] == "3"
    assert kept["status"] == "active"


def test_history_shows_each_method(steps: dict[str, Step]) -> None:
    history = _ok(steps["history"], 200)
    assert history["type"] == "history"
    # Newest first; the delete is an entry of its own, without a resource.
    assert [e["request"]["method"] for e in history["entry"]] == [
        "DELETE",
        "PATCH",
        "PUT",
        "POST",
    ]
    assert "resource" not in history["entry"][0]
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"][1:]] == ["3", "2", "1"]


def test_system_history_holds_the_delete(steps: dict[str, Step]) -> None:
    history = _ok(steps["systemHistory"], 200)
    assert history["type"] == "history"
    created = steps["create"]["body"]["id"]
    deletes = [
        e
        for e in history["entry"]
        if e["request"]["method"] == "DELETE" and e["request"]["url"].endswith(created)
    ]
    assert len(deletes) == 1, history["entry"][:5]


def test_system_search(steps: dict[str, Step]) -> None:
    found = _ok(steps["systemSearch"], 200)
    assert found["type"] == "searchset"
    assert [e["resource"]["id"] for e in found.get("entry", [])] == ["mercaptopurine"]


def test_transaction(steps: dict[str, Step], server: str) -> None:
    reply = _ok(steps["transaction"], 200)
    assert reply["resourceType"] == "Bundle"
    assert reply["type"] == "transaction-response"
    responses = [e["response"] for e in reply["entry"]]
    assert [r["status"].split()[0] for r in responses] == ["201", "201"]
    posted = responses[0]["location"].split("/")[-3]
    assert posted != PUT_ID
    for resource_id in (posted, PUT_ID):
        stored = requests.get(f"{server}/Medication/{resource_id}", timeout=30)
        assert stored.status_code == 200, stored.text
        assert without_meta(stored.json()) == {**_medication(), "id": resource_id}
