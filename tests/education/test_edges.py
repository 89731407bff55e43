"""The reading view's edges: its errors are HTML pages, no page can be framed or cached as
an error, page prose is never Markdown it did not come as, and stored bidirectional-text
controls cannot reorder what a reader sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mappings.pipeline import map_page
from service.education import views
from tests.conftest import FIXTURES, golden_bundle, resources

from ..support.servers import TOKEN, make_app

PLAN_URL = "/education/PlanDefinition/all-induction"
RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"


def _plan() -> dict[str, Any]:
    plan = next(
        r
        for r in resources(golden_bundle("all-induction"))
        if r["resourceType"] == "PlanDefinition"
    )
    copied: dict[str, Any] = json.loads(json.dumps(plan))
    return copied


def _html_page(response: TestResponse, status: int) -> Any:
    assert response.status_code == status, response.data[:300]
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    return lxml.html.fromstring(response.data)


# --- errors are pages --------------------------------------------------------------------


def test_an_unexpected_error_is_an_html_500(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.extensions["ped.store"], "read", broken)
    document = _html_page(app.test_client().get(PLAN_URL), 500)
    assert document.xpath("//h1/text()") == ["Internal Server Error"]
    assert "a bug" not in document.text_content()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/education/", PLAN_URL, "/education/Medication/imatinib"])
def test_another_method_is_an_html_405(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    document = _html_page(response, 405)
    assert document.xpath("//h1/text()") == ["Method Not Allowed"]
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "HEAD"}


def test_a_404_is_an_html_page_that_is_not_cached(client: FlaskClient) -> None:
    _html_page(client.get("/education/PlanDefinition/no-such-phase"), 404)


def test_a_long_address_is_an_html_414(client: FlaskClient) -> None:
    document = _html_page(client.get("/education/PlanDefinition/" + "a" * 5000), 414)
    assert document.xpath("//h1/text()") == ["Request URI Too Long"]


# --- no page can be framed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/education/", PLAN_URL, "/education/Medication/imatinib", "/education/nope"]
)
def test_no_page_can_be_framed(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy  # the page's own policy is kept
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- Markdown only where the spec says markdown ---------------------------------------------


def test_string_elements_are_plain_text_not_markdown(writable_app: Flask) -> None:
    plan = _plan()
    section = plan["action"][0]["action"][0]
    section["description"] = "See [our site](https://evil.example/) for *more*."
    section["title"] = "**Bold** title"
    section["action"][0]["action"][0]["textEquivalent"] = "take [this](https://evil.example/)"
    writable_app.extensions["ped.store"].put([plan])
    response = writable_app.test_client().get(PLAN_URL)
    document = lxml.html.fromstring(response.data)
    assert document.xpath("//a[contains(@href, 'evil.example')]") == []
    assert document.xpath("//main//em | //main//strong[contains(., 'Bold')]") == []
    text = document.text_content()
    assert "See [our site](https://evil.example/) for *more*." in text
    assert "**Bold** title" in text
    assert "take [this](https://evil.example/)" in text


def test_markdown_elements_still_render_as_markdown(writable_app: Flask) -> None:
    plan = _plan()
    plan["description"] = "Content that *is* Markdown, from a FHIR author."
    writable_app.extensions["ped.store"].put([plan])
    document = lxml.html.fromstring(writable_app.test_client().get(PLAN_URL).data)
    assert [e.text_content() for e in document.xpath("//main//em")] == ["is"]


def _with_markup(page: str) -> str:
    marked = page.replace(
        "Induction treatment is also called remission induction therapy.",
        "Induction treatment is also called [remission induction](https://evil.example/) therapy.",
    ).replace("is to rapidly clear", "is to *rapidly* clear")
    assert marked != page
    return marked


def test_page_prose_with_markdown_characters_reads_as_written(tmp_path: Path) -> None:
    page = _with_markup((FIXTURES / "pages" / "all-induction.txt").read_text("utf-8"))
    source = tmp_path / "all-induction.txt"
    source.write_text(page, "utf-8")
    app = make_app(tmp_path / "store.sqlite3")
    result = app.test_cli_runner().invoke(args=["load", str(source)])
    assert result.exit_code == 0, result.output
    document = lxml.html.fromstring(app.test_client().get(PLAN_URL).data)
    assert document.xpath("//a[contains(@href, 'evil.example')]") == []
    assert document.xpath("//main//em") == []
    text = " ".join(document.xpath("//main")[0].text_content().split())
    assert "also called [remission induction](https://evil.example/) therapy." in text
    assert "is to *rapidly* clear" in text
    assert "\\" not in text


def test_the_mapping_escapes_only_markdown_elements() -> None:
    page = _with_markup((FIXTURES / "pages" / "all-induction.txt").read_text("utf-8"))
    plan = next(
        r for r in map_page(page.encode()).result.resources if r["resourceType"] == "PlanDefinition"
    )
    assert "\\[remission induction\\](https://evil.example/)" in plan["description"]
    assert "\\*rapidly\\*" in plan["purpose"]
    # The narrative is XHTML, not Markdown: the page's words, no backslashes.
    assert "[remission induction](https://evil.example/)" in plan["text"]["div"]
    assert "*rapidly*" in plan["text"]["div"]


def test_the_infobutton_summary_of_page_prose_reads_as_written(tmp_path: Path) -> None:
    page = _with_markup((FIXTURES / "pages" / "all-induction.txt").read_text("utf-8"))
    app = make_app(tmp_path / "store.sqlite3")
    response = app.test_client().post(
        "/fhir/$import",
        data=page.encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.data[:300]
    feed = app.test_client().get(
        "/infobutton?mainSearchCriteria.v.cs=2.16.840.1.113883.6.90"
        "&mainSearchCriteria.v.c=C91.00&knowledgeResponseType=application/json"
    )
    assert feed.status_code == 200
    summaries = [e["summary"]["_value"] for e in feed.get_json()["feed"]["entry"]]
    assert any("is to *rapidly* clear" in s for s in summaries), summaries
    assert not any("<em>" in s for s in summaries)


# --- bidirectional-text controls ------------------------------------------------------------


def test_stored_bidi_controls_cannot_reorder_a_page(writable_app: Flask) -> None:
    plan = _plan()
    plan["title"] = f"Induction {RLO}05 mg{PDF} treatments"
    section = plan["action"][0]["action"][0]
    section["title"] = f"{LRI}Chemotherapy{PDI}"
    section["description"] = f"Take {RLO}evil{PDF} doses."
    plan["description"] = f"Markdown {RLO}too{PDF}."
    writable_app.extensions["ped.store"].put([plan])
    response = writable_app.test_client().get(PLAN_URL)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert not set(html) & {chr(c) for c in views.BIDI_CONTROLS}
    document = lxml.html.fromstring(response.data)
    assert document.xpath("//h1/text()") == ["Induction 05 mg treatments"]
    assert "Take evil doses." in document.text_content()


def test_the_pages_own_stylesheet_has_no_bidi_controls() -> None:
    """The page is cleaned whole; its stylesheet must come through byte for byte."""
    assert not set(views.CSS) & {chr(c) for c in views.BIDI_CONTROLS}
