"""The English wordings of this page family and what each one means, as data.

Each cue is matched against verbatim page text; the first cue that matches wins, so more
specific wordings come first. Changing what a wording means is a change to this table,
reviewed like any other clinical content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mappings.numbers import MAX_DIGITS

from .model import Precheck, Priority, Required, Selection


@dataclass(frozen=True)
class GroupCue:
    """How the sentence that introduces a list decides how to choose from it."""

    pattern: re.Pattern[str]
    selection: Selection
    required: Required | None
    precheck: Precheck | None
    exhaustive: bool  # False: the list gives examples, not the complete set


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# "most common" and "often" say how often, never "all" or "required" by themselves; only a
# combination (singular: "the drug combination … includes:") is given whole. "The most common
# combinations are:" lists alternatives, one combination a bullet.
GROUP_CUES: tuple[GroupCue, ...] = (
    GroupCue(_re(r"\bone or more of the following\b"), "one-or-more", None, None, True),
    GroupCue(
        _re(r"\b(?:one|either) of (?:the following|these)\b"), "exactly-one", None, None, True
    ),
    GroupCue(_re(r"\bcombinations\b"), "any", None, None, True),
    GroupCue(_re(r"\bcombination\b"), "all", None, "yes", True),
    GroupCue(_re(r"\bmost common\b"), "any", None, "yes", True),
    GroupCue(_re(r"\bmay be added\b"), "any", "could", "no", False),
    GroupCue(_re(r"\bmay include\b"), "any", "could", "no", False),
    GroupCue(_re(r"\bincluding\b"), "any", "could", "no", False),
    GroupCue(_re(r"\bmay be offered\b"), "any", "could", "no", False),
    GroupCue(_re(r"\bsuch as\b|\bfor example\b|\binclude\b"), "any", None, None, False),
)
DEFAULT_GROUP = GroupCue(_re(r"$^"), "any", None, None, True)

# Section prose that says how strongly the section's treatment is expected.
REQUIRED_CUES: tuple[tuple[re.Pattern[str], Required], ...] = (
    (_re(r"\bis the primary\b"), "must-unless-documented"),
    (_re(r"\bis a standard treatment\b"), "must-unless-documented"),
    (_re(r"\byou typically receive\b"), "must-unless-documented"),
    (_re(r"\bmay continue\b"), "could"),
    (_re(r"\bmay be used\b"), "could"),
)

# Section headings (or, where a heading was lost, the words a section opens with).
SECTION_KINDS: tuple[tuple[str, str], ...] = (
    # First: "Side effects of hormone therapy" is about side effects, not a treatment.
    ("side effect", "side-effects"),
    ("tests", "tests"),
    ("central nervous system", "cns"),
    ("targeted therapy", "targeted-therapy"),
    ("chemotherapy", "chemotherapy"),
    ("radiation", "radiation"),
    ("supportive", "supportive"),
    ("clinical trial", "clinical-trials"),
    ("stem cell transplant", "stem-cell-transplant"),
    ("hormone therapy", "hormone-therapy"),
    ("immunotherapy", "immunotherapy"),
    ("surgery", "surgery"),
)
DRUG_SECTIONS = frozenset({"chemotherapy", "targeted-therapy", "hormone-therapy", "immunotherapy"})
# Kinds that open a new top-level section even after a heading with sub-headings.
TOP_LEVEL_KINDS = frozenset(
    {
        "cns",
        "targeted-therapy",
        "chemotherapy",
        "radiation",
        "supportive",
        "clinical-trials",
        "stem-cell-transplant",
        "side-effects",
        "tests",
        "hormone-therapy",
        "immunotherapy",
        "surgery",
    }
)
# Sections whose lists are lists of treatments even when no lexicon knows an item.
TREATMENT_SECTIONS = DRUG_SECTIONS | {"cns", "supportive", "radiation", "stem-cell-transplant"}
# Sections whose lists are never treatments (side effects, tests): they stay text.
NOT_TREATMENT_SECTIONS = frozenset({"side-effects", "tests", "clinical-trials"})
# A list introduced by these words is not a list of treatments: it stays text.
NOT_TREATMENTS = _re(
    r"\bside effects?\b|\btests?\b|\bsymptoms?\b|\bsigns?\b|\bquestions?\b|\bask\b|"
    r"\bmeans?\b"
)
# Words of a bullet that make its nested bullets one combination.
COMBINATION = _re(
    r"\bcombination\b|\btogether\b|\bcombined\b|\bwhich (?:includes?|is|are)\b|"
    r"\bmade up of\b|\bconsists? of\b"
)

URGENCY_CUES: tuple[tuple[re.Pattern[str], Priority], ...] = (
    (_re(r"\bas soon as possible\b"), "asap"),
    (_re(r"\bright away\b"), "urgent"),
    (_re(r"\bwithin days\b"), "urgent"),
)

# Sentences addressed to whoever applies the plan: caveats, not structure.
USAGE_CUES: tuple[re.Pattern[str], ...] = (
    _re(r"\bhealthcare team will suggest\b"),
    _re(r"\bmay not need\b"),
    _re(r"\bmay be (?:shorter|longer)\b"),
)

ALIAS = _re(r"^(?P<subject>.+?) is also called (?P<alias>[^.]+)\.$")
GOAL = (
    _re(r"^The goal of .+? is to (?P<statement>.+?)\.$"),
    _re(r"^.+? is given to (?P<statement>.+?)\.$"),
)
# Title shapes of the family, most specific first: "Induction treatments for ALL" (topic
# Induction), "Treatments for multiple myeloma", "Chemotherapy for CLL", "Treating CML".
TITLES: tuple[re.Pattern[str], ...] = (
    _re(r"^(?P<topic>treatments?|treatment options) for (?P<disease>.+)$"),
    _re(r"^(?P<topic>.+?) treatments? for (?P<disease>.+)$"),
    _re(r"^(?P<topic>[^,:]+?) for (?P<disease>.+)$"),
    _re(r"^(?P<topic>treating) (?P<disease>.+)$"),
    _re(r"^(?P<disease>.+?) (?P<topic>treatments?)$"),
)

NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
# ASCII digits only, as many as mappings.numbers reads ("\d" matches "٢", which is no count).
_NUMBER = rf"(?:a|an|one|two|three|four|five|six|[0-9]{{1,{MAX_DIGITS}}})"
SPAN = _re(
    r"(?P<text>(?:(?P<approx1>usually|often|typically) )?lasts? (?:for )?"
    r"(?:(?P<approx2>about|around|approximately) )?"
    rf"(?P<low>{_NUMBER})(?: to (?P<high>{_NUMBER}))? "
    r"(?P<unit>days?|weeks?|months?|years?))\b"
)
SCHEDULE = _re(
    r"(?P<text>(?:(?P<approx>often|usually|typically) )?(?:given )?"
    r"(?P<word>daily|weekly|monthly|yearly))\b"
)
# "…, often given weekly", "…, given intravenously": how everything before it is given.
# Read for a schedule and a route; other words ("given with chemotherapy") stay in the
# bullet's text only.
ADMINISTRATION = _re(r",\s+(?P<text>(?:(?:often|usually|typically) )?(?:given|taken)\b.*)$")
PURPOSE = _re(r"\s+to\s+(?!the\b|a\b|an\b|your\b)(?P<purpose>(?-i:[a-z]).*)$")
AS_NEEDED = _re(r"\s+as needed$")
DOSE = _re(r"\b(?P<dose>high|low)-dose\b")
SUCH_AS = _re(r"^(?P<head>.+?)\s+such as\s+(?P<list>.+)$")
CARRIER = _re(r"^(?P<carrier>[^,]+?)\s+with\s+(?P<list>.+)$")
OFFERED = _re(r"\bmay be offered\b")
# Countries a page may name as where its content applies. No verified code exists in the
# terminology tables for any of them, so the output carries the name as text only.
JURISDICTIONS: tuple[str, ...] = ("Canada",)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
