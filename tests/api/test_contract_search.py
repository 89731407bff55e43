"""Contract tests for search: every supported parameter, modifiers, AND/OR, paging, sorting,
``_summary``/``_elements`` and POST ``_search``. Expected ids come from fixtures/fhir."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .test_contract import (
    BASE,
    FHIR_JSON,
    SUBSETTED_SYSTEM,
    assert_outcome,
    body,
    fixture,
    fixture_ids,
    fixture_resources,
    follow,
    links,
    matches,
    search,
    search_ids,
    without_meta,
)


@pytest.fixture(scope="module")
def app(app_on_each_backend: Flask) -> Flask:
    """Search semantics are the store's contract: every test here runs on SQLite and on
    PostgreSQL."""
    return app_on_each_backend


PD = {"all-induction", "all-maintenance"}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CONTEXT_TYPE = "http://terminology.hl7.org/CodeSystem/usage-context-type"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
AD_BASE = "https://fhir.example.org/ped/ActivityDefinition"


def norm(text: str) -> str:
    """Case- and accent-insensitive form, as R4 string search compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join(
        "".join(c for c in decomposed if not unicodedata.combining(c)).split()
    ).casefold()


def where(resource_type: str, predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
    """Ids of the fixture resources of a type that satisfy ``predicate``."""
    return {i for (t, i), r in fixture_resources().items() if t == resource_type and predicate(r)}


def codings(resource: dict[str, Any]) -> list[dict[str, Any]]:
    coding: list[dict[str, Any]] = resource.get("code", {}).get("coding", [])
    return coding


def definitions(resource: dict[str, Any]) -> set[str]:
    found, stack = set(), list(resource.get("action", []))
    while stack:
        action = stack.pop()
        if "definitionCanonical" in action:
            found.add(action["definitionCanonical"])
        stack += action.get("action", [])
    return found


def _uses(canonical: str) -> set[str]:
    return where("PlanDefinition", lambda r: canonical in definitions(r))


def _uses_url(url: str) -> set[str]:
    return where("PlanDefinition", lambda r: any(d.split("|")[0] == url for d in definitions(r)))


INDUCTION = fixture("PlanDefinition", "all-induction")
DESCRIPTION_START = " ".join(INDUCTION["description"].split()[:4])

SEARCHES: list[tuple[str, str, set[str]]] = [
    # url (uri: exact)
    ("PlanDefinition", f"url={INDUCTION['url']}", {"all-induction"}),
    ("PlanDefinition", "url=https://fhir.example.org/ped/PlanDefinition/all", set()),
    ("ActivityDefinition", f"url={AD_BASE}/imatinib", {"imatinib"}),
    # version (token)
    ("PlanDefinition", "version=1.0.0", PD),
    ("PlanDefinition", "version=2.0.0", set()),
    # name (string: starts with)
    ("PlanDefinition", "name=inductiontreatments", {"all-induction"}),
    ("PlanDefinition", "name=Treatments", set()),
    # title: default is case- and accent-insensitive "starts with"
    ("PlanDefinition", "title=INDUCTION", {"all-induction"}),
    ("PlanDefinition", "title=Ïnduçtion trëatments", {"all-induction"}),
    ("PlanDefinition", "title=treatments", set()),
    ("PlanDefinition", "title:exact=Induction treatments for acute lymphoblastic leukemia",
     {"all-induction"}),
    ("PlanDefinition", "title:exact=induction treatments for acute lymphoblastic leukemia",
     set()),
    ("PlanDefinition", "title:exact=Induction", set()),
    ("PlanDefinition", "title:contains=LYMPHOBLASTIC", PD),
    ("PlanDefinition", "title:contains=zzz", set()),
    ("ActivityDefinition", "title:contains=methotrexate",
     where("ActivityDefinition", lambda r: "methotrexate" in norm(r["title"]))),
    ("ActivityDefinition", "title=a s",
     where("ActivityDefinition", lambda r: norm(r["title"]).startswith("a s"))),
    # status (token)
    ("PlanDefinition", "status=active", PD),
    ("PlanDefinition", "status=draft", set()),
    ("ActivityDefinition", "status=active",
     where("ActivityDefinition", lambda r: r["status"] == "active")),
    # description, publisher (string)
    ("PlanDefinition", f"description={DESCRIPTION_START.upper()}", {"all-induction"}),
    ("PlanDefinition", "description=leukemia", set()),
    ("PlanDefinition", "publisher=canadian cancer", PD),
    ("PlanDefinition", "publisher=society", set()),
    # context (token, on useContext.valueCodeableConcept)
    ("PlanDefinition", "context=91857003", PD),
    ("PlanDefinition", f"context={SNOMED}|91857003", PD),
    ("PlanDefinition", f"context={ICD10}|C91.0", PD),
    ("PlanDefinition", f"context={ICD10}|91857003", set()),
    ("PlanDefinition", "context=C92.0", set()),
    ("ActivityDefinition", "context=91857003", set()),
    # context-type (token, on useContext.code)
    ("PlanDefinition", "context-type=focus", PD),
    ("PlanDefinition", f"context-type={CONTEXT_TYPE}|focus", PD),
    ("PlanDefinition", "context-type=age", set()),
    ("PlanDefinition", f"context-type={SNOMED}|focus", set()),
    # context-type-value (composite type$value)
    ("PlanDefinition", "context-type-value=focus$C91.0", PD),
    ("PlanDefinition", f"context-type-value=focus${SNOMED}|91857003", PD),
    ("PlanDefinition", f"context-type-value={CONTEXT_TYPE}|focus${ICD10}|C91.0", PD),
    ("PlanDefinition", f"context-type-value=focus${SNOMED}|C91.0", set()),
    ("PlanDefinition", "context-type-value=age$C91.0", set()),
    # jurisdiction: ours carry text only, so no token matches
    ("PlanDefinition", "jurisdiction=Canada", set()),
    ("PlanDefinition", "jurisdiction:missing=true", PD),
    # type (token)
    ("PlanDefinition", "type=clinical-protocol", PD),
    ("PlanDefinition", f"type={PLAN_TYPE}|clinical-protocol", PD),
    ("PlanDefinition", f"type={PLAN_TYPE}|order-set", set()),
    # definition (canonical, with and without |version)
    ("PlanDefinition", f"definition={AD_BASE}/imatinib", _uses_url(f"{AD_BASE}/imatinib")),
    ("PlanDefinition", f"definition={AD_BASE}/imatinib|1.0.0", _uses(f"{AD_BASE}/imatinib|1.0.0")),
    ("PlanDefinition", f"definition={AD_BASE}/cyclophosphamide", {"all-induction"}),
    ("PlanDefinition", f"definition={AD_BASE}/methotrexate-weekly|1.0.0", {"all-maintenance"}),
    ("PlanDefinition", f"definition={AD_BASE}/imatinib|2.0.0", set()),
    ("PlanDefinition", f"definition={AD_BASE}/imat", set()),
    # identifier (no fixture carries one; matching is covered by the $import tests)
    ("PlanDefinition", "identifier=all-induction", set()),
    ("PlanDefinition", "identifier:missing=true", PD),
    ("Medication", "identifier:missing=false", set()),
    # _id (token, comma is OR)
    ("PlanDefinition", "_id=all-induction", {"all-induction"}),
    ("PlanDefinition", "_id=all-induction,all-maintenance", PD),
    ("PlanDefinition", "_id=all-induction,nope", {"all-induction"}),
    ("PlanDefinition", "_id=nope", set()),
    ("PlanDefinition", "_id=imatinib", set()),
    ("PlanDefinition", "_id:not=all-induction", {"all-maintenance"}),
    # Medication code (token)
    ("Medication", f"code={RXNORM}|6851", {"methotrexate"}),
    ("Medication", "code=6851", {"methotrexate"}),
    ("Medication", "code=|6851", set()),  # the coding has a system
    ("Medication", f"code={RXNORM}|",
     where("Medication", lambda r: any(c["system"] == RXNORM for c in codings(r)))),
    ("Medication", f"code={ATC}|6851", set()),
    ("Medication", f"code={RXNORM}|6851,{ATC}|L01XX24", {"methotrexate", "pegaspargase"}),
    ("Medication", f"code:not={RXNORM}|6851", fixture_ids("Medication") - {"methotrexate"}),
    ("Medication", "code:missing=false", fixture_ids("Medication")),
    ("Medication", "code:missing=true", set()),
    ("Medication", "ingredient-code=6851", set()),
    ("Medication", "ingredient-code:missing=true", fixture_ids("Medication")),
    ("Medication", "status=active", where("Medication", lambda r: r["status"] == "active")),
    ("Medication", "status=inactive", set()),
    ("Medication", "status:not=active", set()),
    ("Medication", "form:missing=true", fixture_ids("Medication")),
    # :missing on a string, :not on a token
    ("PlanDefinition", "title:missing=false", PD),
    ("PlanDefinition", "title:missing=true", set()),
    ("PlanDefinition", "status:not=draft", PD),
    ("PlanDefinition", "type:not=clinical-protocol", set()),
    # AND by repetition, OR by comma
    ("PlanDefinition", "title:contains=induction&title:contains=leukemia", {"all-induction"}),
    ("PlanDefinition", "title:contains=induction&title:contains=maintenance", set()),
    ("PlanDefinition", "title=induction,maintenance", PD),
    ("PlanDefinition", "title=induction,zzz", {"all-induction"}),
    ("PlanDefinition", "status=active&context=C91.0&title=maint", {"all-maintenance"}),
    # an escaped comma is part of the value, not an OR
    ("PlanDefinition", r"title=induction\,maintenance", set()),
    # SQL LIKE wildcards in a value are literal characters
    ("PlanDefinition", "title=_nduction", set()),
    ("PlanDefinition", "title:contains=%25", set()),
    ("PlanDefinition", "title:contains=_", set()),
    # ids and codes compare case-sensitively
    ("PlanDefinition", "_id=ALL-INDUCTION", set()),
]  # fmt: skip


@pytest.mark.parametrize(("resource_type", "query", "expected"), SEARCHES)
def test_search_param(
    client: FlaskClient, resource_type: str, query: str, expected: set[str]
) -> None:
    url = f"/fhir/{resource_type}?{query}&_count=200"
    assert search_ids(client, url) == expected


def test_search_expectations_are_not_all_empty() -> None:
    """Guard the table above: most parameters are shown matching something."""
    assert sum(1 for _, _, expected in SEARCHES if expected) > len(SEARCHES) // 2


def test_exact_title_with_escaped_commas(client: FlaskClient) -> None:
    title = fixture("ActivityDefinition", "methotrexate-high-dose-intravenous")["title"]
    assert "," in title
    escaped = title.replace(",", "\\,")
    found = search_ids(client, "/fhir/ActivityDefinition", query_string={"title:exact": escaped})
    assert found == {"methotrexate-high-dose-intravenous"}
    # Unescaped, the commas separate OR values, none of which is a whole title.
    assert search_ids(client, "/fhir/ActivityDefinition", query_string={"title:exact": title}) == (
        set()
    )


def test_links_round_trip_special_characters(client: FlaskClient) -> None:
    value = "é & + # % \\, ="
    bundle = search(
        client, "/fhir/PlanDefinition", query_string={"title:contains": value, "_count": "1"}
    )
    self_link = links(bundle)["self"]
    assert self_link.startswith(f"{BASE}/PlanDefinition?")
    assert _pairs(self_link) == [("title:contains", value), ("_count", "1")]
    assert search(client, self_link.removeprefix("http://localhost")) == bundle


def test_search_entries_are_the_stored_resources(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/Medication?_id=methotrexate")
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == f"{BASE}/Medication/methotrexate"
    assert entry["search"] == {"mode": "match"}
    assert without_meta(entry["resource"]) == fixture("Medication", "methotrexate")
    assert entry["resource"]["meta"]["versionId"] == "1"


@pytest.fixture(scope="module")
def last_updated_year(app: Any) -> int:
    response = app.test_client().get("/fhir/PlanDefinition/all-induction")
    return int(body(response)["meta"]["lastUpdated"][:4])


@pytest.mark.parametrize(
    ("template", "everything"),
    [
        ("eq{y}", True),
        ("{y}", True),
        ("ge{y}", True),
        ("le{y}", True),
        ("gt{y}", False),
        ("lt{y}", False),
        ("gt{p}", True),
        ("lt{n}", True),
        ("ge{n}", False),
        ("le{p}", False),
        ("eq{p}", False),
        ("ne{y}", False),
        ("ne{p}", True),
        ("eq{p},eq{y}", True),
    ],
)
def test_last_updated_prefixes(
    client: FlaskClient, last_updated_year: int, template: str, everything: bool
) -> None:
    y = last_updated_year
    value = template.format(y=y, p=y - 1, n=y + 1)
    expected = fixture_ids("ActivityDefinition") if everything else set()
    found = search_ids(client, f"/fhir/ActivityDefinition?_lastUpdated={value}&_count=200")
    assert found == expected


def test_last_updated_at_millisecond_precision(client: FlaskClient) -> None:
    instant = body(client.get("/fhir/Medication/methotrexate"))["meta"]["lastUpdated"]
    assert len(instant) == len("2024-01-01T00:00:00.000Z")
    same = where("Medication", lambda r: True)  # every fixture is loaded in one transaction
    url = "/fhir/Medication?_count=200&_lastUpdated="
    assert search_ids(client, url + instant) == same
    assert search_ids(client, url + "gt" + instant) == set()
    assert search_ids(client, url + "ge" + instant) == same
    assert search_ids(client, url + "lt" + instant) == set()


def test_last_updated_accepts_the_last_representable_year(client: FlaskClient) -> None:
    """9999 is a valid FHIR date; the end of its range is not a Python datetime."""
    found = search_ids(client, "/fhir/ActivityDefinition?_lastUpdated=lt9999&_count=200")
    assert found == fixture_ids("ActivityDefinition")


# --- paging -------------------------------------------------------------------------------


def _pairs(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_paging_visits_every_match_once(client: FlaskClient) -> None:
    expected = fixture_ids("ActivityDefinition")
    unpaged = matches(search(client, "/fhir/ActivityDefinition?_count=200"))
    assert set(unpaged) == expected
    collected: list[str] = []
    totals = set()
    pages = list(follow(client, "/fhir/ActivityDefinition?_count=5"))
    for page in pages:
        totals.add(page["total"])
        collected += matches(page)
        assert len(matches(page)) <= 5
    assert totals == {len(expected)}
    assert len(collected) == len(set(collected)), "a resource appeared on two pages"
    assert set(collected) == expected
    assert collected == unpaged, "paging follows the unpaged order"
    assert len(pages) == -(-len(expected) // 5)


def test_paging_links_are_absolute_and_keep_parameters(client: FlaskClient) -> None:
    url = "/fhir/ActivityDefinition?status=active&_sort=title&_count=5"
    pages = list(follow(client, url))
    assert len(pages) == 7
    titles: list[str] = []
    for n, page in enumerate(pages):
        relations = links(page)
        for link in relations.values():
            assert link.startswith(f"{BASE}/ActivityDefinition?"), link
            pairs = _pairs(link)
            assert ("status", "active") in pairs, link
            assert ("_sort", "title") in pairs, link
            assert ("_count", "5") in pairs, link
        assert ("previous" in relations) == (n > 0)
        assert ("next" in relations) == (n < len(pages) - 1)
        assert "first" in relations
        assert "last" in relations
        assert dict(_pairs(relations["self"])).get("_offset", "0") == str(5 * n)
        assert dict(_pairs(relations["last"]))["_offset"] == "30"
        titles += [e["resource"]["title"] for e in page["entry"]]
    assert titles == sorted(titles, key=norm)


def test_paging_previous_goes_back(client: FlaskClient) -> None:
    second = search(client, "/fhir/ActivityDefinition?_sort=_id&_count=5&_offset=5")
    first = search(client, "/fhir/ActivityDefinition?_sort=_id&_count=5")
    back = links(second)["previous"].removeprefix("http://localhost")
    assert matches(search(client, back)) == matches(first)
    assert links(second)["first"] == links(first)["self"]


def test_offset_past_the_end_is_empty_with_total(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/ActivityDefinition?_count=5&_offset=1000")
    assert bundle["total"] == len(fixture_ids("ActivityDefinition"))
    assert "entry" not in bundle
    assert "next" not in links(bundle)


def test_count_zero_gives_total_only(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/ActivityDefinition?_count=0")
    assert bundle["total"] == len(fixture_ids("ActivityDefinition"))
    assert "entry" not in bundle


def test_total_none_omits_total_but_pages(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/ActivityDefinition?_count=5&_total=none")
    assert "total" not in bundle
    assert len(bundle["entry"]) == 5
    assert ("_total", "none") in _pairs(links(bundle)["next"])


def test_default_page_size_is_20(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/ActivityDefinition")
    assert len(bundle["entry"]) == 20
    assert ("_count", "20") in _pairs(links(bundle)["self"])


# --- sorting ------------------------------------------------------------------------------


def _titles(client: FlaskClient, query: str) -> list[str]:
    bundle = search(client, f"/fhir/ActivityDefinition?{query}&_count=200")
    return [e["resource"]["title"] for e in bundle["entry"]]


def test_sort_by_title(client: FlaskClient) -> None:
    titles = _titles(client, "_sort=title")
    assert len(titles) == len(fixture_ids("ActivityDefinition"))
    assert [norm(t) for t in titles] == sorted(norm(t) for t in titles)


def test_sort_by_title_descending(client: FlaskClient) -> None:
    titles = _titles(client, "_sort=-title")
    assert [norm(t) for t in titles] == sorted((norm(t) for t in titles), reverse=True)


@pytest.mark.parametrize(("sort", "reverse"), [("_lastUpdated", False), ("-_lastUpdated", True)])
def test_sort_by_last_updated(client: FlaskClient, sort: str, reverse: bool) -> None:
    bundle = search(client, f"/fhir/ActivityDefinition?_sort={sort}&_count=200")
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in bundle["entry"]]
    assert len(stamps) == len(fixture_ids("ActivityDefinition"))
    assert stamps == sorted(stamps, reverse=reverse)


def test_sort_by_id(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/Medication?_sort=-_id&_count=200")
    assert matches(bundle) == sorted(fixture_ids("Medication"), reverse=True)


@pytest.mark.parametrize(
    ("resource_type", "sort"),
    [("ActivityDefinition", "name"), ("Medication", "title"), ("PlanDefinition", "-nope"),
     ("PlanDefinition", "title,"), ("PlanDefinition", "_score")],
)  # fmt: skip
def test_sort_on_unsupported_key_is_400(client: FlaskClient, resource_type: str, sort: str) -> None:
    assert_outcome(client.get(f"/fhir/{resource_type}?_sort={sort}"), 400)


# --- _summary and _elements -------------------------------------------------------------------

# R4 PlanDefinition elements flagged Σ (summary), plus Resource.id/meta/implicitRules.
PD_SUMMARY = {
    "resourceType", "id", "meta", "implicitRules", "url", "identifier", "version", "name",
    "title", "type", "status", "experimental", "date", "publisher", "contact", "description",
    "useContext", "jurisdiction", "effectivePeriod",
}  # fmt: skip


def _subsetted(resource: dict[str, Any]) -> bool:
    return any(
        tag.get("system") == SUBSETTED_SYSTEM and tag.get("code") == "SUBSETTED"
        for tag in resource.get("meta", {}).get("tag", [])
    )


def _summary_keys(mode: str) -> set[str]:
    full = set(INDUCTION) | {"meta"}
    return {
        "true": full & PD_SUMMARY,
        "text": {"resourceType", "id", "meta", "text", "status"},
        "data": full - {"text"},
    }[mode]


@pytest.mark.parametrize("mode", ["true", "text", "data"])
def test_summary_on_search(client: FlaskClient, mode: str) -> None:
    bundle = search(client, f"/fhir/PlanDefinition?_id=all-induction&_summary={mode}")
    (resource,) = [e["resource"] for e in bundle["entry"]]
    assert set(resource) == _summary_keys(mode)
    assert _subsetted(resource)
    for key in set(resource) - {"meta"}:
        assert resource[key] == INDUCTION[key]
    assert ("_summary", mode) in _pairs(links(bundle)["self"])


@pytest.mark.parametrize("mode", ["true", "text", "data"])
def test_summary_on_read(client: FlaskClient, mode: str) -> None:
    response = client.get(f"/fhir/PlanDefinition/all-induction?_summary={mode}")
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'
    resource = body(response)
    assert set(resource) == _summary_keys(mode)
    assert _subsetted(resource)


@pytest.mark.parametrize("mode", ["false", None])
def test_summary_false_is_the_full_resource(client: FlaskClient, mode: str | None) -> None:
    query = f"?_summary={mode}" if mode else ""
    resource = body(client.get(f"/fhir/PlanDefinition/all-induction{query}"))
    assert without_meta(resource) == INDUCTION
    assert not _subsetted(resource)


def test_summary_count(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/ActivityDefinition?_summary=count&status=active")
    assert bundle["total"] == len(fixture_ids("ActivityDefinition"))
    assert "entry" not in bundle
    assert ("_summary", "count") in _pairs(links(bundle)["self"])


def test_summary_count_on_read_is_400(client: FlaskClient) -> None:
    assert_outcome(client.get("/fhir/PlanDefinition/all-induction?_summary=count"), 400)


@pytest.mark.parametrize("elements", ["title,status", "PlanDefinition.title, status"])
def test_elements_on_search(client: FlaskClient, elements: str) -> None:
    bundle = search(client, f"/fhir/PlanDefinition?_elements={elements}&_sort=_id")
    assert matches(bundle) == ["all-induction", "all-maintenance"]
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert set(resource) == {"resourceType", "id", "meta", "title", "status"}
        assert _subsetted(resource)
        assert resource["title"] == fixture("PlanDefinition", resource["id"])["title"]


def test_elements_on_read(client: FlaskClient) -> None:
    resource = body(client.get("/fhir/Medication/methotrexate?_elements=code"))
    assert set(resource) == {"resourceType", "id", "meta", "code"}
    assert resource["code"] == fixture("Medication", "methotrexate")["code"]
    assert _subsetted(resource)


def test_subsetted_tag_keeps_existing_meta(client: FlaskClient) -> None:
    resource = body(client.get("/fhir/PlanDefinition/all-induction?_elements=title"))
    assert resource["meta"]["versionId"] == "1"
    assert resource["meta"]["tag"] == [
        {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED", "display": "subsetted"}
    ]


# --- POST _search ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["title=induction", "context=C91.0&_sort=-title", "_id=all-induction,all-maintenance"],
)
def test_post_search_equals_get(client: FlaskClient, query: str) -> None:
    get = search(client, f"/fhir/PlanDefinition?{query}")
    post = client.post(
        "/fhir/PlanDefinition/_search",
        data=query,
        content_type="application/x-www-form-urlencoded",
    )
    assert post.status_code == 200
    assert post.headers["Content-Type"] == FHIR_JSON
    assert body(post) == get


def test_get_search_on_search_endpoint_equals_get(client: FlaskClient) -> None:
    get = search(client, "/fhir/PlanDefinition?title=maint")
    assert search(client, "/fhir/PlanDefinition/_search?title=maint") == get


def test_post_search_combines_query_and_form(client: FlaskClient) -> None:
    response = client.post(
        "/fhir/PlanDefinition/_search?status=active",
        data={"title:contains": "maintenance"},
    )
    assert response.status_code == 200
    assert matches(body(response)) == ["all-maintenance"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/fhir+json", "text/plain", None]
)
def test_post_search_needs_form_encoding(client: FlaskClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(
        "/fhir/PlanDefinition/_search", data=b'{"title": "induction"}', headers=headers
    )
    assert_outcome(response, 415)
