"""Unit tests for mappings.source: the two ALL fixture pages, normalisation, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.source import (
    Bullet,
    BulletList,
    MoreInfo,
    Page,
    PageError,
    Paragraph,
    Section,
    parse_page,
    read_page,
)

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
FIXTURES = ("all-induction.txt", "all-maintenance.txt")
REVIEWER = "Kareem Jamani, MD, LMCC, FRCPC"


def _text(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def _page(name: str) -> Page:
    return parse_page(_text(name))


def _lines(name: str) -> list[str]:
    return _text(name).split("\n")


def _section(page: Page, heading: str | None) -> Section:
    (section,) = [s for s in page.sections if s.heading == heading]
    return section


def _shape(section: Section) -> list[str]:
    """Block kinds, with bullet counts, e.g. ["P", "B3", "M"]."""
    out = []
    for block in section.blocks:
        if isinstance(block, BulletList):
            out.append(f"B{len(block.items)}")
        else:
            out.append("M" if isinstance(block, MoreInfo) else "P")
    return out


def _walk(page: Page) -> list[tuple[int, str]]:
    """Every (line, text) the Page holds, so tests can prove no source line was dropped."""
    pairs = [(page.title_line, page.title), (page.footer.line, "")]
    blocks = list(page.intro)
    for section in page.sections:
        if section.heading is not None:
            pairs.append((section.line, section.heading))
        blocks.extend(section.blocks)
    for block in blocks:
        if isinstance(block, BulletList):
            pairs.extend((b.line, b.text) for b in block.items)
        else:
            pairs.append((block.line, block.text))
    pairs.extend((b.line, b.text) for b in page.reviewers + page.citations)
    pairs.extend((p.line, p.text) for p in page.disclaimer)
    return pairs


# The fixture pages ------------------------------------------------------------------------


def test_induction_sections_in_order() -> None:
    page = _page("all-induction.txt")
    assert [(s.heading, s.line) for s in page.sections] == [
        ("Chemotherapy", 11),
        ("Targeted therapy", 29),
        ("Central nervous system prophylaxis or treatment", 39),
        ("Radiation therapy", 51),
        ("Supportive therapy", 59),
        ("Clinical trials", 73),
    ]


def test_maintenance_sections_include_the_headless_chemotherapy_section() -> None:
    page = _page("all-maintenance.txt")
    assert [(s.heading, s.line) for s in page.sections] == [
        (None, 12),
        ("Targeted therapy", 24),
        ("Central nervous system prophylaxis or treatment", 34),
        ("Supportive therapy", 44),
        ("Clinical trials", 56),
    ]
    first = page.sections[0].blocks[0]
    assert isinstance(first, Paragraph)
    assert first.text.startswith("Chemotherapy is the primary maintenance treatment for ALL.")


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        (
            "all-induction.txt",
            [
                ["P", "P", "B3", "P", "B3", "M"],
                ["P", "P", "P", "M"],
                ["P", "P", "B3", "P"],
                ["P", "P", "M"],
                ["P", "P", "B5", "M"],
                ["P", "M"],
            ],
        ),
        (
            "all-maintenance.txt",
            [
                ["P", "B2", "P", "B2", "M"],
                ["P", "P", "P", "M"],
                ["P", "B3", "P"],
                ["P", "P", "B3", "M"],
                ["P", "M"],
            ],
        ),
    ],
)
def test_blocks_and_bullet_counts(name: str, shapes: list[list[str]]) -> None:
    page = _page(name)
    assert [_shape(s) for s in page.sections] == shapes
    assert [type(b) for b in page.intro] == [Paragraph] * 3


def test_bullets_are_stripped_of_marker_and_keep_their_lines() -> None:
    chemo = _section(_page("all-induction.txt"), "Chemotherapy")
    bullets = chemo.blocks[2]
    assert bullets == BulletList(
        (
            Bullet("vincristine", 17),
            Bullet("daunorubicin (Cerubidine), doxorubicin or a similar anthracycline drug", 18),
            Bullet("steroids such as prednisone or dexamethasone", 19),
        ),
        17,
    )


@pytest.mark.parametrize(("name", "citations"), [(FIXTURES[0], 18), (FIXTURES[1], 8)])
def test_reviewers_and_citations(name: str, citations: int) -> None:
    page = _page(name)
    assert tuple(b.text for b in page.reviewers) == (REVIEWER,)
    assert len(page.citations) == citations
    assert page.citations[0].text.startswith("Goekbuget N, Hoelzer D .")
    assert page.citations[0].line == page.reviewers[0].line + 1


def test_last_citation_of_induction() -> None:
    last = _page("all-induction.txt").citations[-1]
    assert last.line == 97
    assert last.text.startswith("Jazz Pharmaceuticals Canada Inc. Product Monograph: Rylaze.")


@pytest.mark.parametrize("name", FIXTURES)
def test_title_review_and_disclaimer(name: str) -> None:
    page = _page(name)
    assert page.title_line == 1
    assert page.title.endswith("treatments for acute lymphoblastic leukemia")
    assert page.last_review is None
    assert len(page.disclaimer) == 3
    assert page.disclaimer[0].text.startswith("The information that the Canadian Cancer Society")


def test_footers() -> None:
    induction = _page("all-induction.txt").footer
    assert (induction.line, induction.phone, induction.site, induction.copyright) == (
        108,
        "1-888-939-3333",
        "cancer.ca",
        "© 2024 Canadian Cancer Society",
    )
    maintenance = _page("all-maintenance.txt").footer
    assert (maintenance.line, maintenance.phone, maintenance.site, maintenance.copyright) == (
        80,
        "1-888-939-3333",
        None,
        "© 2024 Canadian Cancer Society",
    )


def test_double_blank_before_footer_opens_no_section() -> None:
    page = _page("all-induction.txt")
    assert page.sections[-1].heading == "Clinical trials"
    assert page.disclaimer[-1].line == 105


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "all-induction.txt",
            [
                ("Find out more about chemotherapy for ALL.", 27),
                ("Learn more about targeted therapy for ALL.", 37),
                ("Find out more about radiation therapy for ALL.", 57),
                ("Find out more about supportive therapy for ALL.", 71),
                ("Find out more about clinical trials.", 75),
            ],
        ),
        (
            "all-maintenance.txt",
            [
                ("Find out more about chemotherapy for ALL.", 22),
                ("Find out more about targeted therapy for ALL.", 32),
                ("Find out more about supportive therapy for ALL.", 54),
                ("Find out more about clinical trials.", 58),
            ],
        ),
    ],
)
def test_more_info_blocks(name: str, expected: list[tuple[str, int]]) -> None:
    page = _page(name)
    found = [(b.text, b.line) for s in page.sections for b in s.blocks if isinstance(b, MoreInfo)]
    assert found == expected


@pytest.mark.parametrize(("name", "line"), [(FIXTURES[0], 75), (FIXTURES[1], 58)])
def test_clinical_trials_paragraph_is_split_before_more_info(name: str, line: int) -> None:
    trials = _section(_page(name), "Clinical trials")
    assert trials.blocks == (
        Paragraph(
            "Talk to your doctor about clinical trials open to people with ALL in Canada. "
            "Clinical trials look at new ways to prevent, find and treat cancer.",
            line,
        ),
        MoreInfo("Find out more about clinical trials.", line),
    )


@pytest.mark.parametrize("name", FIXTURES)
def test_nothing_is_dropped(name: str) -> None:
    source = _lines(name)
    pairs = _walk(_page(name))
    covered = {line for line, _ in pairs}
    for line, text in pairs:
        assert text in source[line - 1], (line, text)
    uncovered = {
        source[n - 1].strip()
        for n in range(1, len(source) + 1)
        if source[n - 1].strip() and n not in covered
    }
    # Page keeps no line numbers for these three; everything else must be placed.
    assert uncovered == {
        "Last medical review:",
        "Expert review and references",
        "Medical disclaimer",
    }


# Normalisation and generic structure -----------------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
@pytest.mark.parametrize("name", FIXTURES)
def test_other_line_endings_give_the_same_page(name: str, newline: str) -> None:
    text = _text(name)
    assert parse_page(text.replace("\n", newline)) == parse_page(text)


@pytest.mark.parametrize("name", FIXTURES)
def test_bom_is_ignored_by_parse_and_read(name: str) -> None:
    text = _text(name)
    assert parse_page("\ufeff" + text) == parse_page(text)
    assert read_page(("\ufeff" + text).encode()) == parse_page(text)


def test_nbsp_tabs_and_other_bullet_markers() -> None:
    page = parse_page(
        "Title\nLast medical review:\u00a0May\u00a02024\n\n"
        "Intro\u00a0text here.\n\n"
        "\t• tab\u00a0bullet\n  - dash bullet\n*\tstar bullet\n\n"
        "-5 is not a bullet.\n\n"
        "Expert review and references\n\nMedical disclaimer\n\n© Holder"
    )
    assert page.last_review == "May 2024"
    assert page.intro == (
        Paragraph("Intro text here.", 4),
        BulletList(
            (Bullet("tab bullet", 6), Bullet("dash bullet", 7), Bullet("star bullet", 8)), 6
        ),
        Paragraph("-5 is not a bullet.", 10),
    )
    assert (page.footer.phone, page.footer.site, page.footer.copyright) == (None, None, "© Holder")


def test_consecutive_lines_join_into_one_paragraph() -> None:
    page = parse_page(
        "Title\n\nLast medical review: 2024\n\nFirst line of the intro\n  second line.\n"
        "• a bullet right after\n\nExpert review and references\n\n"
        "Medical disclaimer\n\nNot advice.\n\n1 | s | © X"
    )
    assert page.intro == (
        Paragraph("First line of the intro second line.", 5),
        BulletList((Bullet("a bullet right after", 7),), 7),
    )
    assert page.disclaimer == (Paragraph("Not advice.", 13),)


def test_disclaimer_bullets_are_kept_and_footer_may_follow_without_a_blank_line() -> None:
    page = parse_page(
        "Title\nLast medical review:\nIntro.\n\nExpert review and references\n\n"
        "Medical disclaimer\n\n• first point\n• second point\n1 | s | © X"
    )
    assert page.disclaimer == (Paragraph("first point", 9), Paragraph("second point", 10))
    assert page.footer.line == 11


UNSEEN = """\
Consolidation treatments for acute myeloid leukemia

Last medical review: March 2025

Consolidation treatment is given once the leukemia is in remission.

Immunotherapy

Immunotherapy helps the immune system find and destroy cancer cells. Drugs include:

  • blinatumomab (Blincyto)
  • inotuzumab ozogamicin (Besponsa)

Learn more about immunotherapy for AML.

Stem cell transplant

A stem cell transplant may be offered.
It replaces stem cells destroyed by high-dose cytarabine or busulfan (Busulfex).

EXPERT REVIEW AND REFERENCES

  • Jane Q. Doe, MD, PhD
  • John Smith, RN
  • Some Author. A Book About Leukemia. 2020.

A stray reference line without a bullet.

medical Disclaimer

This is general information, not medical advice.

1-800-555-0100 | example.org | © 2025 Example Society
"""


def test_unseen_page_gets_generic_sections() -> None:
    page = parse_page(UNSEEN)
    assert page.title == "Consolidation treatments for acute myeloid leukemia"
    assert page.last_review == "March 2025"
    assert page.intro == (
        Paragraph("Consolidation treatment is given once the leukemia is in remission.", 5),
    )
    assert [(s.heading, s.line, _shape(s)) for s in page.sections] == [
        ("Immunotherapy", 7, ["P", "B2", "M"]),
        ("Stem cell transplant", 16, ["P"]),
    ]
    assert page.sections[1].blocks[0] == Paragraph(
        "A stem cell transplant may be offered. It replaces stem cells destroyed by "
        "high-dose cytarabine or busulfan (Busulfex).",
        18,
    )
    assert page.reviewers == (Bullet("Jane Q. Doe, MD, PhD", 23), Bullet("John Smith, RN", 24))
    assert page.citations == (
        Bullet("Some Author. A Book About Leukemia. 2020.", 25),
        Bullet("A stray reference line without a bullet.", 27),
    )
    assert page.disclaimer == (Paragraph("This is general information, not medical advice.", 31),)
    assert page.footer.site == "example.org"


def test_more_info_not_at_the_end_stays_a_paragraph() -> None:
    text = UNSEEN.replace(
        "Learn more about immunotherapy for AML.",
        "Learn more about immunotherapy for AML. Ask your team.",
    )
    blocks = parse_page(text).sections[0].blocks
    assert blocks[-1] == Paragraph("Learn more about immunotherapy for AML. Ask your team.", 14)


# Errors ----------------------------------------------------------------------------------


def _error(text: str) -> PageError:
    with pytest.raises(PageError) as info:
        parse_page(text)
    _check_message(info.value)
    return info.value


def _read_error(data: bytes) -> PageError:
    with pytest.raises(PageError) as info:
        read_page(data)
    _check_message(info.value)
    return info.value


def _check_message(error: PageError) -> None:
    message = error.message
    assert message and message[0].islower() and not message.endswith(".")
    assert "\n" not in message
    assert str(error) == f"line {error.line}: {message}"


@pytest.mark.parametrize("text", ["", " \n\t\n\u00a0\r\n", "\ufeff"])
def test_empty_page(text: str) -> None:
    error = _error(text)
    assert (error.line, error.message) == (1, "empty page")


def test_binary_bytes_with_nul() -> None:
    error = _read_error(b"Title\r\nLast medical review:\r\nsome\x00binary")
    assert (error.line, error.message) == (3, "binary content, not a text page")


def test_nul_in_text() -> None:
    assert _error("Title\n\nx\x00y").line == 3


def test_invalid_utf8() -> None:
    data = _text("all-induction.txt").encode()
    lines = data.split(b"\n")
    lines[4] = lines[4][:10] + b"\xff\xfe" + lines[4][10:]
    error = _read_error(b"\n".join(lines))
    assert (error.line, error.message) == (5, "not valid UTF-8 text")


def test_first_bad_byte_wins() -> None:
    assert _read_error(b"T\n\xc3\n\x00").message == "not valid UTF-8 text"
    assert _read_error(b"T\n\x00\n\xc3").message == "binary content, not a text page"


def test_a_page_without_the_review_line_reads_the_same() -> None:
    lines = _lines("all-induction.txt")
    del lines[2]
    page = parse_page("\n".join(lines))
    seed = _page("all-induction.txt")
    assert (page.review_line, page.last_review, seed.review_line) == (None, None, 3)
    assert [s.heading for s in page.sections] == [s.heading for s in seed.sections]
    assert [b.text for b in page.intro] == [b.text for b in seed.intro]


def test_a_dated_review_line_keeps_its_date() -> None:
    text = _text("all-induction.txt").replace(
        "Last medical review:", "Last medical review: March 2024"
    )
    page = parse_page(text)
    assert (page.review_line, page.last_review) == (3, "March 2024")


def test_title_only() -> None:
    error = _error("\n\nJust a title\n")
    assert (error.line, "truncated page" in error.message) == (3, True)


def test_no_title_before_review_line() -> None:
    error = _error("\nLast medical review: 2024\n\nIntro.\n")
    assert error.line == 2
    assert "title" in error.message


def test_truncated_in_the_middle_of_a_section() -> None:
    text = "\n".join(_lines("all-induction.txt")[:41])
    error = _error(text)
    assert error.line == 41
    assert error.message.startswith("truncated page: no footer line")


def test_missing_footer() -> None:
    text = "\n".join(_lines("all-maintenance.txt")[:-1])
    error = _error(text)
    assert error.line == 78
    assert error.message == "truncated page: no footer line (phone | site | © holder) at the end"


@pytest.mark.parametrize(
    ("keep", "missing"),
    [(slice(0, 97), "Medical disclaimer"), (slice(0, 76), "Expert review and references")],
)
def test_missing_special_section_names_the_last_line(keep: slice, missing: str) -> None:
    lines = _lines("all-induction.txt")
    text = "\n".join([*lines[keep], "", lines[-1]])
    error = _error(text)
    assert error.line == len(lines[keep]) + 2
    assert missing in error.message
    assert error.message.startswith("truncated page")


def test_no_intro_and_no_sections() -> None:
    error = _error(
        "Title\nLast medical review:\n\nExpert review and references\n\n"
        "Medical disclaimer\n\n1 | s | © X"
    )
    assert error.line == 3


def test_second_disclaimer_heading() -> None:
    text = _text("all-induction.txt").replace(
        "Medical disclaimer\n", "Medical disclaimer\n\nMedical disclaimer\n"
    )
    assert _error(text).line == 101
