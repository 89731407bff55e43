"""One gate for everything that is written: ``flask load`` and ``POST /fhir/$import``.

Contract: both run every resource they would write through ``service.loading.gate``
(``$validate``'s checks, references resolving in the input or the store), the Bundle rules,
the limits of ``mappings.limits`` and the strict document reader, before writing anything.
A refusal is one ``FILE:LINE: message`` line and exit 1 (CLI), or a 400/413
OperationOutcome with one issue per problem (API); nothing is written.

``tests/hostile/`` holds one small file per refused input; each goes through both paths.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from mappings.limits import MAX_ACTION_DEPTH, MAX_ACTIONS, MAX_PROBLEMS, MAX_RESOURCES
from service.storage import open_store
from service.store import Store
from tests.conftest import golden_bundle, resources
from tests.corpus.oracle import ALL, mapped
from tests.support.servers import make_app

HOSTILE = Path(__file__).resolve().parent / "hostile"
TOKEN = "gate-token-0123456789"  # noqa: S105 (a test credential)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY_TYPES = {".json": "application/fhir+json", ".yaml": "application/yaml", ".txt": "text/plain"}

# file -> (line the refusal names, a word of its message, HTTP status)
HOSTILE_CASES = {
    "alias-bomb.yaml": (11, "anchor", 400),
    "bidi.txt": (7, "U+202E", 400),
    "bogus-status.json": (5, "bogus-status", 400),
    "dangling-urn.json": (12, "urn:uuid:9e3a1c7b", 400),
    "deep.json": (4, "nested", 400),
    "deep.yaml": (3, "nested", 400),
    "duplicate-fullurl.json": (11, "fullUrl", 400),
    "duplicate-keys.json": (6, "duplicate key 'status'", 400),
    "huge-number.json": (6, "4301 characters", 400),
}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """An app over an empty store of its own."""
    return make_app(tmp_path / "db.sqlite3", TESTING=True, API_TOKEN=TOKEN)


def store_of(app: Flask) -> Store:
    """The app's store, opened (and migrated) as a command opens it: a refused load may
    not have opened it yet."""
    with app.app_context():
        return open_store()


def load(app: Flask, *paths: Path) -> Result:
    return app.test_cli_runner().invoke(args=["load", *map(str, paths)])


def refused_line(result: Result, path: Path) -> tuple[int, str]:
    """The one line a refused load prints: its line number and message."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+): (.+)", lines[0])
    assert match, lines[0]
    return int(match[1]), match[2]


def post(client: FlaskClient, data: bytes, content_type: str = "application/fhir+json") -> Any:
    return client.post("/fhir/$import", data=data, headers={**AUTH, "Content-Type": content_type})


def refusal(response: Any, status: int = 400) -> list[dict[str, Any]]:
    """The issues of a refused ``$import``."""
    assert response.status_code == status, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(i["severity"] == "error" for i in outcome["issue"])
    issues: list[dict[str, Any]] = outcome["issue"]
    return issues


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=1), "utf-8")
    return path


def fixture(resource_type: str, resource_id: str | None = None) -> dict[str, Any]:
    for stem in ("all-induction", "all-maintenance"):
        for resource in resources(golden_bundle(stem)):
            if resource["resourceType"] == resource_type and resource_id in (None, resource["id"]):
                return copy.deepcopy(resource)
    raise KeyError((resource_type, resource_id))


def transaction(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def medication(resource_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "status": "active",
        "code": {"text": resource_id},
        **changes,
    }


# --- hostile inputs, through both paths ------------------------------------------------------


def test_every_hostile_file_has_a_case() -> None:
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(HOSTILE_CASES)


@pytest.mark.parametrize("name", sorted(HOSTILE_CASES))
def test_a_hostile_file_is_refused_by_load_and_import_and_nothing_is_stored(
    app: Flask, name: str
) -> None:
    path = HOSTILE / name
    line, word, status = HOSTILE_CASES[name]
    got_line, message = refused_line(load(app, path), path)
    assert (got_line, word in message) == (line, True), message
    assert store_of(app).counts() == {}

    issues = refusal(post(app.test_client(), path.read_bytes(), BODY_TYPES[path.suffix]), status)
    assert issues[0]["diagnostics"].startswith(f"body:{line}: "), issues
    assert word in issues[0]["diagnostics"]
    assert store_of(app).counts() == {}


# --- the gate: $validate's checks on every write --------------------------------------------


def test_load_refuses_what_validate_rejects_and_says_so_in_the_same_words(
    app: Flask, tmp_path: Path
) -> None:
    bogus = medication("bogus", status="bogus-status")
    path = write(tmp_path, "bogus.json", bogus)
    _, message = refused_line(load(app, path), path)
    verdict = app.test_client().post("/fhir/Medication/$validate", json=bogus).get_json()
    errors = [i for i in verdict["issue"] if i["severity"] == "error"]
    assert len(errors) == 1
    assert message.endswith(errors[0]["diagnostics"])
    assert store_of(app).counts() == {}


def _plan_with_one_activity(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fixture PlanDefinition cut to its first activity, and that ActivityDefinition
    (without the product it names)."""
    plan = fixture("PlanDefinition", "all-induction")
    first = plan["action"][0]
    while "action" in first:
        first = first["action"][0]
    canonical = first["definitionCanonical"]
    plan["action"] = [{**first, "action": []}]
    del plan["action"][0]["action"]
    url, _, version = canonical.partition("|")
    activity = next(
        r
        for r in resources(golden_bundle("all-induction"))
        if r.get("url") == url and r.get("version") == version
    )
    activity = {k: v for k, v in activity.items() if k != "productReference"}
    return plan, activity


def test_a_canonical_that_resolves_to_nothing_is_refused(app: Flask, tmp_path: Path) -> None:
    plan, _ = _plan_with_one_activity(tmp_path)
    plan["action"][0]["definitionCanonical"] = (
        "https://fhir.example.org/ped/ActivityDefinition/nothing|1.0.0"
    )
    path = write(tmp_path, "plan.json", plan)
    line, message = refused_line(load(app, path), path)
    assert "PlanDefinition.action[0].definitionCanonical" in message
    assert "does not resolve" in message
    assert '"definitionCanonical"' in path.read_text().splitlines()[line - 1]
    issues = refusal(post(app.test_client(), path.read_bytes()))
    assert issues[0]["expression"] == ["PlanDefinition.action[0].definitionCanonical"]
    assert store_of(app).counts() == {}


def test_references_resolve_among_the_resources_loaded_together(app: Flask, tmp_path: Path) -> None:
    plan, activity = _plan_with_one_activity(tmp_path)
    plan_file = write(tmp_path, "plan.json", plan)
    activity_file = write(tmp_path, "activity.json", activity)
    # In one load, the plan's canonical finds the activity even though it comes later.
    result = load(app, plan_file, activity_file)
    assert result.exit_code == 0, result.output
    assert store_of(app).counts() == {"ActivityDefinition": 1, "PlanDefinition": 1}


def test_references_resolve_in_the_store(app: Flask, tmp_path: Path) -> None:
    plan, activity = _plan_with_one_activity(tmp_path)
    client = app.test_client()
    assert post(client, json.dumps(activity).encode()).status_code == 200
    response = post(client, json.dumps(plan).encode())
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_canonical_to_a_stored_resource_the_input_replaces_no_longer_resolves(
    app: Flask, tmp_path: Path
) -> None:
    """The stored version the same input replaces is not what the plan will point at."""
    plan, activity = _plan_with_one_activity(tmp_path)
    client = app.test_client()
    assert post(client, json.dumps(activity).encode()).status_code == 200
    moved = {**activity, "url": activity["url"] + "-moved"}
    issues = refusal(post(client, json.dumps(transaction(plan, moved)).encode()))
    assert issues[0]["expression"] == ["Bundle.entry[0].resource.action[0].definitionCanonical"]


def test_a_literal_reference_to_nothing_is_refused(app: Flask, tmp_path: Path) -> None:
    _, activity = _plan_with_one_activity(tmp_path)
    activity["productReference"] = {"reference": "Medication/nothing-here"}
    issues = refusal(post(app.test_client(), json.dumps(activity).encode()))
    assert issues[0]["expression"] == ["ActivityDefinition.productReference.reference"]
    assert "Medication/nothing-here" in issues[0]["diagnostics"]


def test_the_outcome_names_each_problem_with_its_expression(app: Flask) -> None:
    bundle = transaction(
        medication("one", status="bogus"),
        medication("fine"),
        medication("two", status="also-bogus", code={"coding": [{"system": "x:y"}]}),
    )
    issues = refusal(post(app.test_client(), json.dumps(bundle, indent=1).encode()))
    expressions = [i["expression"][0] for i in issues]
    assert "Bundle.entry[0].resource.status" in expressions
    assert "Bundle.entry[2].resource.status" in expressions
    assert not any(e.startswith("Bundle.entry[1]") for e in expressions)
    assert all(re.match(r"body:\d+: Medication/(one|two): ", i["diagnostics"]) for i in issues)
    lines = {int(i["diagnostics"].split(":")[1]) for i in issues}
    assert len(lines) >= 2  # each at its own resource's line
    assert store_of(app).counts() == {}


def test_a_created_resource_is_named_by_its_bundle_entry(app: Flask) -> None:
    bundle = transaction(medication("kept"))
    bundle["entry"].append(
        {
            "resource": {k: v for k, v in medication("new", status="bogus").items() if k != "id"},
            "request": {"method": "POST", "url": "Medication"},
        }
    )
    issues = refusal(post(app.test_client(), json.dumps(bundle, indent=1).encode()))
    assert issues[0]["expression"] == ["Bundle.entry[1].resource.status"]
    assert "Medication of Bundle.entry[1]: Medication.status" in issues[0]["diagnostics"]


def test_the_cli_line_says_how_many_more_problems_there_are(app: Flask, tmp_path: Path) -> None:
    bundle = transaction(medication("one", status="bogus"), medication("two", status="bogus"))
    path = write(tmp_path, "two.json", bundle)
    _, message = refused_line(load(app, path), path)
    assert message.endswith("(and 1 more problem)")


def test_a_refusal_lists_at_most_max_problems(app: Flask) -> None:
    bundle = transaction(*(medication(f"m{n}", status="bogus") for n in range(MAX_PROBLEMS + 5)))
    issues = refusal(post(app.test_client(), json.dumps(bundle).encode()))
    assert len(issues) == MAX_PROBLEMS + 1
    assert issues[-1]["diagnostics"] == "more problems were found than are listed"


def test_the_gate_refuses_without_a_line_for_input_it_did_not_read(app: Flask) -> None:
    """``gate`` is one function: any write path can call it with what it will write."""
    from service.loading import LoadError, gate

    with app.app_context(), pytest.raises(LoadError) as caught:
        gate([medication("x", status="nope")], store_of(app))
    assert str(caught.value).startswith("input:0: Medication/x: Medication.status")


# --- Bundle rules ------------------------------------------------------------------------------


def test_urn_references_between_put_entries_are_rewritten(app: Flask) -> None:
    """Before, only a Bundle with a POST had its fullUrl references rewritten: a PUT-only
    transaction stored ``urn:uuid:…`` verbatim."""
    _, activity = _plan_with_one_activity(Path())
    drug = medication("rewritten-drug")
    activity["productReference"] = {"reference": "urn:uuid:5b0c7e1a-0000-4000-8000-00000000000a"}
    bundle = transaction(drug, activity)
    bundle["entry"][0]["fullUrl"] = "urn:uuid:5b0c7e1a-0000-4000-8000-00000000000a"
    client = app.test_client()
    assert post(client, json.dumps(bundle).encode()).status_code == 200
    stored = client.get(f"/fhir/ActivityDefinition/{activity['id']}").get_json()
    assert stored["productReference"] == {"reference": "Medication/rewritten-drug"}


def test_a_dangling_urn_in_a_single_resource_is_refused(app: Flask) -> None:
    drug = medication("x", ingredient=[{"itemReference": {"reference": "urn:oid:1.2.3"}}])
    issues = refusal(post(app.test_client(), json.dumps(drug).encode()))
    assert issues[0]["expression"] == ["Medication.ingredient[0].itemReference.reference"]


# --- limits ------------------------------------------------------------------------------------


def test_more_resources_than_the_limit_is_413(app: Flask, tmp_path: Path) -> None:
    bundle = transaction(*(medication(f"m{n}") for n in range(MAX_RESOURCES + 1)))
    path = write(tmp_path, "many.json", bundle)
    _, message = refused_line(load(app, path), path)
    assert f"at most {MAX_RESOURCES}" in message
    issues = refusal(post(app.test_client(), path.read_bytes()), 413)
    assert issues[0]["code"] == "too-costly"
    assert store_of(app).counts() == {}


def _actions(count: int) -> list[dict[str, Any]]:
    return [{"title": f"step {n}"} for n in range(count)]


def test_more_actions_than_the_limit_is_413(app: Flask) -> None:
    plan = fixture("PlanDefinition", "all-induction")
    plan["action"] = [{"title": "all", "action": _actions(MAX_ACTIONS)}]
    issues = refusal(post(app.test_client(), json.dumps(plan).encode()), 413)
    assert f"more than {MAX_ACTIONS} actions" in issues[0]["diagnostics"]


def test_actions_nested_past_the_limit_are_413(app: Flask, tmp_path: Path) -> None:
    plan = fixture("PlanDefinition", "all-induction")
    innermost: dict[str, Any] = {"title": "deepest"}
    for _ in range(MAX_ACTION_DEPTH):
        innermost = {"title": "level", "action": [innermost]}
    plan["action"] = [innermost]
    path = write(tmp_path, "nested.json", plan)
    line, message = refused_line(load(app, path), path)
    assert f"nested more than {MAX_ACTION_DEPTH} deep" in message
    assert line > 1
    refusal(post(app.test_client(), path.read_bytes()), 413)


def test_300_nested_actions_are_a_refusal_not_a_500(app: Flask) -> None:
    plan = fixture("PlanDefinition", "all-induction")
    innermost: dict[str, Any] = {"title": "deepest"}
    for _ in range(300):
        innermost = {"title": "level", "action": [innermost]}
    plan["action"] = [innermost]
    refusal(post(app.test_client(), json.dumps(plan).encode()), 400)


def test_the_corpus_passes_the_gate_well_within_the_limits(app: Flask) -> None:
    """Every corpus page's mapped output is accepted as it is (references resolving among
    its own resources), and uses a tenth of each limit at most. (The fixtures pass it in
    every test that loads them: tests/support/servers.py ``loaded_database``.)"""
    from service.loading import gate

    most_resources = most_actions = deepest = 0
    with app.app_context():
        for page in ALL:
            written = [dict(r) for r in mapped(page).page.result.resources]
            gate(written, store_of(app))
            most_resources = max(most_resources, len(written))
            for resource in written:
                stack = [(a, 1) for a in resource.get("action", [])]
                count = 0
                while stack:
                    action, depth = stack.pop()
                    count += 1
                    deepest = max(deepest, depth)
                    stack += [(a, depth + 1) for a in action.get("action", [])]
                most_actions = max(most_actions, count)
    assert most_resources * 10 <= MAX_RESOURCES
    assert most_actions * 10 <= MAX_ACTIONS
    assert deepest * 2 <= MAX_ACTION_DEPTH


# --- bidi controls at every input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (
            "application/fhir+json",
            b'{"resourceType": "Medication", "id": "x",\n "code": {"text": "a\\u2066b"}}',
        ),
        ("application/json", b'{"format": "ped-content/2",\n "content": {"title": "\\u202dx"}}'),
        ("application/yaml", b'format: ped-content/2\ncontent:\n  title: "\\u2068x"\n'),
        ("application/yaml", "format: ped-content/2\ncontent:\n  title: \u202bx\n".encode()),
    ],
)
def test_bidi_controls_are_refused_at_every_input(
    app: Flask, content_type: str, data: bytes
) -> None:
    issues = refusal(post(app.test_client(), data, content_type))
    assert "bidirectional control" in issues[0]["diagnostics"]
    assert not issues[0]["diagnostics"].startswith("body:0:")


# --- $validate bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["duplicate-keys.json", "deep.json", "huge-number.json"])
def test_validate_refuses_what_no_reader_should_accept_with_a_400(app: Flask, name: str) -> None:
    response = app.test_client().post(
        "/fhir/Medication/$validate",
        data=(HOSTILE / name).read_bytes(),
        content_type="application/fhir+json",
    )
    issues = refusal(response)
    assert issues[0]["code"] == "structure"
    assert f"line {HOSTILE_CASES[name][0]}:" in issues[0]["diagnostics"]


def test_validate_of_xml_with_a_huge_number_is_a_finding_not_a_500(app: Flask) -> None:
    xml = (
        '<Medication xmlns="http://hl7.org/fhir"><id value="x"/><amount><numerator>'
        f'<value value="{"1" * 4301}"/></numerator></amount></Medication>'
    ).encode()
    response = app.test_client().post(
        "/fhir/Medication/$validate", data=xml, content_type="application/fhir+xml"
    )
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["issue"][0]["severity"] in ("fatal", "error")
    assert "4301 characters" in outcome["issue"][0]["diagnostics"]


def test_validate_of_xml_with_a_bidi_character_reference_is_400(app: Flask) -> None:
    xml = (
        b'<Medication xmlns="http://hl7.org/fhir"><id value="x"/>'
        b'<code><text value="a&#x202E;b"/></code></Medication>'
    )
    response = app.test_client().post(
        "/fhir/Medication/$validate", data=xml, content_type="application/fhir+xml"
    )
    assert "U+202E" in refusal(response)[0]["diagnostics"]


def test_a_package_parameters_body_nested_too_deep_is_400_not_500(app: Flask) -> None:
    deep = '{"resourceType": "Parameters", "parameter": ' + "[" * 5000 + "]" * 5000 + "}"
    response = app.test_client().post(
        "/fhir/PlanDefinition/$package", data=deep, content_type="application/fhir+json"
    )
    assert "nested more than" in refusal(response)[0]["diagnostics"]
