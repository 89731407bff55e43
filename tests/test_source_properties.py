"""Property tests: mangled pages give a Page or a PageError at a real line, nothing else."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.source import BulletList, Page, PageError, parse_page, read_page

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
TEXTS = tuple(
    (PAGES / name).read_text(encoding="utf-8")
    for name in ("all-induction.txt", "all-maintenance.txt")
)
# Characters that matter to the parser, mixed with anything Hypothesis likes.
SPECIAL = ["\n", "\r", "\r\n", "\x00", "\ufeff", "\u00a0", "\t", "•", "- ", "|", "©", ".", ":"]
CHARS = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=3))
OPS = ("delete", "duplicate", "truncate", "insert", "shuffle", "blank", "swap")
QUICK = settings(max_examples=300, deadline=None, database=None)


def _normalise(text: str) -> str:
    text = text.removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    # Page breaks of text exports read as spaces (mappings.source does the same).
    return text.replace("\f", " ").replace("\v", " ")


def _line_count(text: str) -> int:
    return _normalise(text).count("\n") + 1


def _byte_line_count(data: bytes) -> int:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


@st.composite
def mangled_pages(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(TEXTS)).split("\n")
    for op in draw(st.lists(st.sampled_from(OPS), max_size=5)):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "truncate":
            cut = draw(st.integers(0, len(lines[i])))
            lines = [*lines[:i], lines[i][:cut]]
        elif op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(CHARS) + lines[i][at:]
        elif op == "shuffle":
            lines = draw(st.permutations(lines))
        elif op == "blank":
            lines.insert(i, "")
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


# Pages assembled from the pieces the parser keys on, to reach deeper than random text.
PIECES = [
    *SPECIAL,
    "Title",
    "Last medical review:",
    "Expert review and references",
    "Medical disclaimer",
    "Find out more about x.",
    "Kareem Jamani, MD",
    "words",
]
ANY_TEXT = st.one_of(mangled_pages(), st.text(), st.lists(st.sampled_from(PIECES)).map("".join))


@st.composite
def mangled_bytes(draw: st.DrawFn) -> bytes:
    data = draw(mangled_pages()).encode("utf-8")
    for op in draw(st.lists(st.sampled_from(("insert", "truncate", "flip")), max_size=3)):
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
        elif op == "truncate":
            data = data[:at]
        elif at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data


def _check_error(error: PageError, line_count: int) -> None:
    assert 1 <= error.line <= line_count + 1
    assert error.message and error.message[0].islower()
    assert not error.message.endswith(".") and "\n" not in error.message


def _texts(page: Page) -> list[str]:
    blocks = list(page.intro)
    for section in page.sections:
        blocks.extend(section.blocks)
    out: list[str] = []
    for block in blocks:
        if isinstance(block, BulletList):
            out.extend(b.text for b in block.items)
        else:
            out.append(block.text)
    out.extend(b.text for b in page.reviewers + page.citations)
    out.extend(p.text for p in page.disclaimer)
    return out


def _parse(text: str) -> Page | None:
    try:
        return parse_page(text)
    except PageError as error:
        _check_error(error, _line_count(text))
        return None


@QUICK
@given(ANY_TEXT)
def test_parse_page_returns_page_or_page_error(text: str) -> None:
    _parse(text)


@QUICK
@given(mangled_bytes() | st.binary())
def test_read_page_returns_page_or_page_error(data: bytes) -> None:
    try:
        read_page(data)
    except PageError as error:
        _check_error(error, _byte_line_count(data))


@QUICK
@given(mangled_pages())
def test_read_page_agrees_with_parse_page_on_utf8(text: str) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    try:
        expected: Page | int = parse_page(text)
    except PageError as error:
        expected = error.line
    try:
        got: Page | int = read_page(data)
    except PageError as error:
        got = error.line
    assert got == expected


@QUICK
@given(mangled_pages())
def test_block_texts_come_from_the_input(text: str) -> None:
    page = _parse(text)
    if page is None:
        return
    # Lines of one paragraph are joined with a single space, so compare against the
    # stripped lines joined the same way.
    flat = " ".join(line.strip() for line in _normalise(text).split("\n"))
    for piece in [page.title, *_texts(page)]:
        assert piece in flat
    lines = _line_count(text)
    assert 1 <= page.title_line <= page.footer.line <= lines
